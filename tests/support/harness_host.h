// Test-only host side of the contexts of ABI 2, as AbiHarness hands them to a module: host
// services by name (typed and bytes forms, versions, grants), the services' part of the init
// context, and per-call contexts (metadata in and out, deadline, cancelled flag, call id, trace
// context, a logger that tags lines with the call id). It follows abi.h's contract to the
// letter, as a small reference for the real host: every refusal names the service and the
// cause, ids are checked, and the bytes it lends stay valid exactly as long as abi.h says.
//
// Thread-safety: AddService and set_typed_forms_available before any init step; init steps one
// at a time; calls (CallScope) on any number of threads at once. Bytes handlers must be
// thread-safe.

#ifndef FNHOST_TESTS_SUPPORT_HARNESS_HOST_H_
#define FNHOST_TESTS_SUPPORT_HARNESS_HOST_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fnhost/abi.h"

namespace fnhost::testing {

using MetadataPairs = std::vector<std::pair<std::string, std::string>>;

// A host service as an embedder would register it.
struct HarnessService {
  std::string name;
  uint32_t version = 1;
  // false: the function was not granted it (PERMISSION_DENIED).
  bool granted = true;
  // The typed form: the table and its first argument; none when `typed` is null.
  const void* typed = nullptr;
  void* typed_data = nullptr;
  // The bytes form: returns a status code and sets *response to the response (or the error
  // message). None when empty.
  std::function<int32_t(std::string_view method, std::string_view request, std::string* response)>
      bytes;
};

// What one call carries besides its request.
struct CallOptions {
  // Keys as the caller spells them; the host lower-cases them, as abi.h promises modules.
  MetadataPairs metadata;
  int64_t deadline_ns = FNHOST_NO_DEADLINE;
  // The call's cancelled flag, written by the test with __atomic_store_n; null: never set.
  const int32_t* cancelled = nullptr;
  std::string traceparent;
  std::string tracestate;
  std::string call_id = "call-1";
};

struct LogLine {
  int32_t level;
  std::string message;
  std::string call_id;  // empty for lines logged at init
};

class HarnessHost {
 public:
  HarnessHost() = default;
  HarnessHost(const HarnessHost&) = delete;
  HarnessHost& operator=(const HarnessHost&) = delete;

  void AddService(HarnessService service) { services_.push_back(std::move(service)); }
  // false: behave as under process isolation, where no typed form crosses into the worker.
  void set_typed_forms_available(bool available) { typed_forms_available_ = available; }

  // Fills every field of an init context but `error`, for one init step; what the step's
  // callbacks lend stays valid until the next call of BeginInitStep.
  fnhost_host_init_context BeginInitStep(std::string_view init_config, uint32_t flags,
                                         fnhost_host_output* error);

  // The names of the services the module obtained, in order.
  std::vector<std::string> granted_requests() const;
  std::vector<LogLine> logs() const;

  // The context of one call, valid while the scope lives.
  class CallScope {
   public:
    CallScope(HarnessHost* host, const CallOptions& options);
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

    const fnhost_host_call_context* raw() const { return &raw_; }
    MetadataPairs TakeResponseMetadata() { return std::move(response_metadata_); }

   private:
    static int32_t SetResponseMetadata(void* self, fnhost_module_bytes key,
                                       fnhost_module_bytes value);
    static int32_t CallHost(void* self, uint64_t service_id, fnhost_module_bytes method,
                            fnhost_module_bytes request, fnhost_host_bytes* response);
    static void Log(void* self, int32_t level, const char* message, size_t size);

    HarnessHost* host_;
    std::string call_id_;
    std::string traceparent_;
    std::string tracestate_;
    MetadataPairs request_;  // keys lower-cased
    std::vector<fnhost_host_metadata> entries_;
    MetadataPairs response_metadata_;
    std::string host_response_;  // what the last CallHost lent
    fnhost_host_call_context raw_;
  };

 private:
  static int32_t RequireService(void* self, fnhost_module_bytes name, uint32_t min_version,
                                uint32_t forms, fnhost_host_service* service,
                                fnhost_host_bytes* message);
  static int32_t InitCallHost(void* self, uint64_t service_id, fnhost_module_bytes method,
                              fnhost_module_bytes request, fnhost_host_bytes* response);
  static void InitLog(void* self, int32_t level, const char* message, size_t size);
  // The refusal of a request for `name`, or 0 and the service's index.
  int32_t Check(std::string_view name, uint32_t min_version, uint32_t forms, size_t* index,
                std::string* message) const;
  // Runs the bytes form of the service with id `service_id`, as call_host does.
  int32_t CallBytes(uint64_t service_id, fnhost_module_bytes method, fnhost_module_bytes request,
                    std::string* response) const;
  void AddLog(int32_t level, std::string_view message, std::string_view call_id);

  std::vector<HarnessService> services_;
  bool typed_forms_available_ = true;
  std::set<uint64_t> given_ids_;  // written at init only
  std::vector<std::string> granted_requests_;
  std::string init_config_;
  std::deque<std::string> init_messages_;  // stable addresses for the step's lifetime
  std::string init_response_;

  mutable std::mutex log_mu_;
  std::vector<LogLine> logs_;
};

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_HARNESS_HOST_H_
