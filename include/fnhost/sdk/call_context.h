// Everything one call carries besides its request: request and response metadata, the
// deadline and a cancelled flag, the call's id and W3C trace context, a logger that tags lines
// with the call, and the bytes form of host services.
//
// Part of the module SDK (fnhost/module.h). An Instance receives it when its Invoke takes a
// third argument:
//
//   fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response,
//                              fnhost::sdk::CallContext& context);
//
// A CallContext is valid only during that Invoke. Its methods may be called by one thread at a
// time, except cancelled(), which any thread may poll during the call. The read accessors cost a
// few nanoseconds and never allocate: metadata() scans the host's array of pairs in place.

#ifndef FNHOST_SDK_CALL_CONTEXT_H_
#define FNHOST_SDK_CALL_CONTEXT_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "fnhost/abi.h"
#include "fnhost/sdk/logging.h"
#include "fnhost/sdk/service.h"
#include "fnhost/sdk/status.h"

namespace fnhost::sdk {

// One pair of request metadata, viewing the host's bytes (valid during the call).
struct MetadataEntry {
  std::string_view key;  // lower-case
  std::string_view value;
};

// The request metadata in the caller's order, as an iterable range of MetadataEntry.
class MetadataList {
 public:
  class iterator {
   public:
    explicit iterator(const fnhost_host_metadata* at) : at_(at) {}
    MetadataEntry operator*() const {
      return {internal::View(at_->key), internal::View(at_->value)};
    }
    iterator& operator++() {
      ++at_;
      return *this;
    }
    bool operator==(const iterator& other) const { return at_ == other.at_; }

   private:
    const fnhost_host_metadata* at_;
  };

  MetadataList(const fnhost_host_metadata* entries, size_t count)
      : entries_(entries), count_(count) {}
  iterator begin() const { return iterator(entries_); }
  iterator end() const { return iterator(entries_ + count_); }
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

 private:
  const fnhost_host_metadata* entries_;
  size_t count_;
};

class CallContext {
 public:
  explicit CallContext(const fnhost_host_call_context* raw) : raw_(raw) {}

  // ---- Request and response metadata ----
  // The first value of request metadata `key`, compared without regard to ASCII case (the
  // host's keys are lower-case); nullopt when the request has none.
  std::optional<std::string_view> metadata(std::string_view key) const {
    for (size_t i = 0; i < raw_->request_metadata_count; ++i) {
      const fnhost_host_metadata& entry = raw_->request_metadata[i];
      if (entry.key.size == key.size() && EqualsLowerCase(entry.key.data, key)) {
        return internal::View(entry.value);
      }
    }
    return std::nullopt;
  }
  MetadataList request_metadata() const {
    return MetadataList(raw_->request_metadata, raw_->request_metadata_count);
  }
  // Sets response metadata `key` ([A-Za-z0-9_.-], lower-cased by the host) to `value`,
  // replacing an earlier value. INVALID_ARGUMENT for a bad key, RESOURCE_EXHAUSTED past the
  // host's limit.
  Status SetResponseMetadata(std::string_view key, std::string_view value) {
    if (raw_->set_response_metadata == nullptr) {
      return UnavailableError("response metadata: this call cannot carry any");
    }
    int32_t code = raw_->set_response_metadata(raw_->host_data, internal::Lend(key),
                                               internal::Lend(value));
    if (code == FNHOST_STATUS_OK) return Status::Ok();
    return Status(internal::ToCode(code),
                  "response metadata '" + std::string(key) + "' was refused by the host");
  }

  // ---- Deadline and cancellation ----
  bool has_deadline() const { return raw_->deadline_ns != FNHOST_NO_DEADLINE; }
  // When the caller stops waiting, on std::chrono::steady_clock (CLOCK_MONOTONIC);
  // time_point::max() without a deadline.
  std::chrono::steady_clock::time_point deadline() const {
    if (!has_deadline()) return std::chrono::steady_clock::time_point::max();
    return std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(raw_->deadline_ns)));
  }
  // Time left before the deadline (negative once it passed; nanoseconds::max() without one).
  // Reads the clock.
  std::chrono::nanoseconds remaining() const {
    if (!has_deadline()) return std::chrono::nanoseconds::max();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadline() - std::chrono::steady_clock::now());
  }
  // Whether the caller gave up on this call: one memory read, cheap enough to poll in a loop.
  bool cancelled() const { return __atomic_load_n(raw_->cancelled, __ATOMIC_RELAXED) != 0; }

  // ---- Identity, tracing, logging ----
  std::string_view call_id() const { return internal::View(raw_->call_id); }
  // The W3C traceparent of this call's span (propagate it as is) and the tracestate; empty when
  // the call has no trace context.
  std::string_view traceparent() const { return internal::View(raw_->traceparent); }
  std::string_view tracestate() const { return internal::View(raw_->tracestate); }
  // Logs a line the host tags with the function, the module version and the call id.
  void Log(LogLevel level, std::string_view message) const {
    internal::Log(raw_->logger, level, message);
  }

  // ---- Host services ----
  // Calls `method` of `service` (bytes form) with `request`. The response view is the host's,
  // valid until the next CallHost of this call or the call's end; errors carry the service's
  // code and message.
  StatusOr<std::string_view> CallHost(const Service& service, std::string_view method,
                                      std::string_view request) {
    return internal::CallHost(raw_->call_host, raw_->host_data, service.id(), service.name(),
                              method, request);
  }

  const fnhost_host_call_context& raw() const { return *raw_; }

 private:
  static bool EqualsLowerCase(const char* lower, std::string_view key) {
    for (size_t i = 0; i < key.size(); ++i) {
      char c = key[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (lower[i] != c) return false;
    }
    return true;
  }

  const fnhost_host_call_context* raw_;
};

namespace internal {

inline constexpr int32_t kNeverCancelled = 0;

// The context of a call made through the context-less invoke entry: no metadata, no deadline,
// never cancelled, no logger, no host services.
inline constexpr fnhost_host_call_context kEmptyCallContext = {
    .struct_size = sizeof(fnhost_host_call_context),
    .reserved = 0,
    .host_data = nullptr,
    .call_id = {nullptr, 0},
    .deadline_ns = FNHOST_NO_DEADLINE,
    .cancelled = &kNeverCancelled,
    .request_metadata = nullptr,
    .request_metadata_count = 0,
    .traceparent = {nullptr, 0},
    .tracestate = {nullptr, 0},
    .logger = {nullptr, nullptr},
    .set_response_metadata = nullptr,
    .call_host = nullptr,
};

}  // namespace internal
}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_CALL_CONTEXT_H_
