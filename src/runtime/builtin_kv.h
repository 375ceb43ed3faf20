// The built-in `kv` service (fnhost/builtin_services.h): one in-memory key/value store per
// host, shared by every function granted it, with a cap on the bytes of its keys and values
// together. Its typed form is fnhost_host_kv_v1 over the store; its bytes form decodes the
// methods "get", "set" and "erase".
//
// Thread-safety: thread-safe; one mutex guards the map (each operation copies one value).

#ifndef FNHOST_SRC_RUNTIME_BUILTIN_KV_H_
#define FNHOST_SRC_RUNTIME_BUILTIN_KV_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "fnhost/host_service.h"
#include "src/runtime/service_registry.h"

namespace fnhost::internal {

class KvStore {
 public:
  explicit KvStore(uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // As fnhost_host_kv_v1: status codes of abi.h.
  int32_t Get(std::string_view key, char* value, size_t capacity, size_t* size) const;
  int32_t Set(std::string_view key, std::string_view value);
  int32_t Erase(std::string_view key);

  // The bytes form.
  absl::Status Call(const ServiceCall& call, std::string* response);

 private:
  const uint64_t max_bytes_;
  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, std::string> entries_;
  uint64_t bytes_ = 0;  // keys and values of entries_
};

// The service, with a new store of `max_bytes`.
std::shared_ptr<const HostService> KvService(uint64_t max_bytes);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_RUNTIME_BUILTIN_KV_H_
