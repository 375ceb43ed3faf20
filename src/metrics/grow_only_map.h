// GrowOnlyMap: a map from names to values that are created on first sight and never removed,
// for the metrics aggregator's records (functions, versions, reasons). Values live on the heap,
// so a reference to one stays valid after the lock is released.
//
// Thread-safety: thread-safe. Finding an existing entry takes a shared (read) lock; the
// exclusive lock is taken only to create one.

#ifndef FNHOST_SRC_METRICS_GROW_ONLY_MAP_H_
#define FNHOST_SRC_METRICS_GROW_ONLY_MAP_H_

#include <algorithm>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "src/common/strings.h"

namespace fnhost::internal {

template <typename V>
class GrowOnlyMap {
 public:
  V& GetOrCreate(std::string_view key) {
    if (V* value = Find(key)) return *value;
    std::unique_lock lock(mutex_);
    std::unique_ptr<V>& slot = map_[std::string(key)];
    if (slot == nullptr) {
      if constexpr (std::is_constructible_v<V, std::string_view>) {
        slot = std::make_unique<V>(key);  // a value that knows its own key
      } else {
        slot = std::make_unique<V>();
      }
    }
    return *slot;
  }

  V* Find(std::string_view key) const {
    std::shared_lock lock(mutex_);
    auto it = map_.find(AsAbsl(key));
    return it == map_.end() ? nullptr : it->second.get();
  }

  // Every entry, sorted by key (copied: the map's keys move when it rehashes).
  std::vector<std::pair<std::string, V*>> Sorted() const {
    std::vector<std::pair<std::string, V*>> entries;
    {
      std::shared_lock lock(mutex_);
      entries.reserve(map_.size());
      for (const auto& [key, value] : map_) entries.emplace_back(key, value.get());
    }
    std::sort(entries.begin(), entries.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return entries;
  }

 private:
  mutable std::shared_mutex mutex_;
  // absl's default hash and equality for std::string are transparent: find() takes an
  // absl::string_view without building a std::string.
  absl::flat_hash_map<std::string, std::unique_ptr<V>> map_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_METRICS_GROW_ONLY_MAP_H_
