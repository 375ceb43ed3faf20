#include "src/runtime/builtin_kv.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "fnhost/builtin_services.h"
#include "src/common/strings.h"

namespace fnhost::internal {
namespace {

std::string_view View(fnhost_module_bytes bytes) {
  return bytes.size == 0 ? std::string_view() : std::string_view(bytes.data, bytes.size);
}

KvStore* Store(void* data) { return static_cast<KvStore*>(data); }

constexpr fnhost_host_kv_v1 kKvTable = {
    .get = [](void* data, fnhost_module_bytes key, char* value, size_t capacity,
              size_t* size) { return Store(data)->Get(View(key), value, capacity, size); },
    .set = [](void* data, fnhost_module_bytes key,
              fnhost_module_bytes value) { return Store(data)->Set(View(key), View(value)); },
    .erase = [](void* data, fnhost_module_bytes key) { return Store(data)->Erase(View(key)); },
};

absl::Status StatusFor(int32_t code, std::string_view method, std::string_view key,
                       uint64_t max_bytes) {
  switch (code) {
    case FNHOST_STATUS_OK:
      return absl::OkStatus();
    case FNHOST_STATUS_NOT_FOUND:
      return absl::NotFoundError(absl::StrCat("kv: no key '", AsAbsl(key), "'"));
    case FNHOST_STATUS_RESOURCE_EXHAUSTED:
      return absl::ResourceExhaustedError(absl::StrCat(
          "kv: ", AsAbsl(method), " of '", AsAbsl(key), "' would exceed the store's cap of ",
          max_bytes, " bytes"));
    default:
      return absl::Status(static_cast<absl::StatusCode>(code),
                          absl::StrCat("kv: ", AsAbsl(method), " failed"));
  }
}

}  // namespace

int32_t KvStore::Get(std::string_view key, char* value, size_t capacity, size_t* size) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(AsAbsl(key));
  if (it == entries_.end()) return FNHOST_STATUS_NOT_FOUND;
  *size = it->second.size();
  if (capacity < it->second.size()) return FNHOST_STATUS_OUT_OF_RANGE;
  if (!it->second.empty()) std::memcpy(value, it->second.data(), it->second.size());
  return FNHOST_STATUS_OK;
}

int32_t KvStore::Set(std::string_view key, std::string_view value) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(AsAbsl(key));
  const uint64_t old_size = it == entries_.end() ? 0 : key.size() + it->second.size();
  const uint64_t new_size = key.size() + value.size();
  if (bytes_ - old_size + new_size > max_bytes_) return FNHOST_STATUS_RESOURCE_EXHAUSTED;
  if (it == entries_.end()) {
    entries_.emplace(std::string(key), std::string(value));
  } else {
    it->second.assign(value.data(), value.size());
  }
  bytes_ = bytes_ - old_size + new_size;
  return FNHOST_STATUS_OK;
}

int32_t KvStore::Erase(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(AsAbsl(key));
  if (it == entries_.end()) return FNHOST_STATUS_NOT_FOUND;
  bytes_ -= key.size() + it->second.size();
  entries_.erase(it);
  return FNHOST_STATUS_OK;
}

absl::Status KvStore::Call(const ServiceCall& call, std::string* response) {
  if (call.method == "get") {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(AsAbsl(call.request));
    if (it == entries_.end()) return StatusFor(FNHOST_STATUS_NOT_FOUND, "get", call.request, 0);
    response->assign(it->second);
    return absl::OkStatus();
  }
  if (call.method == "set") {
    uint32_t key_size = 0;
    if (call.request.size() < sizeof(key_size)) {
      return absl::InvalidArgumentError("kv: set: the request is shorter than its key size");
    }
    std::memcpy(&key_size, call.request.data(), sizeof(key_size));
    const std::string_view rest = call.request.substr(sizeof(key_size));
    if (key_size > rest.size()) {
      return absl::InvalidArgumentError("kv: set: the key runs past the end of the request");
    }
    const std::string_view key = rest.substr(0, key_size);
    return StatusFor(Set(key, rest.substr(key_size)), "set", key, max_bytes_);
  }
  if (call.method == "erase") return StatusFor(Erase(call.request), "erase", call.request, 0);
  return absl::UnimplementedError(
      absl::StrCat("kv: no method '", AsAbsl(call.method), "' (get, set, erase)"));
}

std::shared_ptr<const HostService> KvService(uint64_t max_bytes) {
  auto store = std::make_shared<KvStore>(max_bytes);
  auto service = std::make_shared<HostService>();
  service->name = FNHOST_KV_SERVICE;
  service->version = FNHOST_KV_SERVICE_VERSION;
  service->has_typed = true;
  service->has_bytes = true;
  service->bind = [store](std::string_view, MetricsSink*) {
    return BoundService{
        &kKvTable, store.get(),
        [store](const ServiceCall& call, std::string* response) {
          return store->Call(call, response);
        },
        store};
  };
  return service;
}

}  // namespace fnhost::internal
