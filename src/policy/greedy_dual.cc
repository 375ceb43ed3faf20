// Greedy-Dual priorities and clock: see the header.

#include "src/policy/greedy_dual.h"

#include <algorithm>

namespace fnhost {

double GreedyDualPriority(double clock, double frequency, double cost, double memory_mb) {
  const double gb = std::max(memory_mb, 1.0) / 1024;
  return clock + frequency * cost / gb;
}

void GreedyDualClock::Evicted(double priority, absl::Time now) {
  if (priority <= value_) return;
  value_ = priority;
  if (history_ == 0) return;
  if (!history_entries_.empty() && history_entries_.back().first >= now) {
    history_entries_.back().second = value_;
    return;
  }
  history_entries_.emplace_back(now, value_);
  if (history_entries_.size() > history_) {
    before_history_ = history_entries_.front().second;
    history_entries_.pop_front();
  }
}

double GreedyDualClock::At(absl::Time time) const {
  // The first entry at or after `time`; the value before it.
  auto it = std::lower_bound(
      history_entries_.begin(), history_entries_.end(), time,
      [](const std::pair<absl::Time, double>& entry, absl::Time t) { return entry.first < t; });
  if (it == history_entries_.end()) return value_;
  if (it == history_entries_.begin()) return before_history_;
  return std::prev(it)->second;
}

}  // namespace fnhost
