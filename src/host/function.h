// Function: one registered function — its current version, the versions still draining after a
// reload, the pool of warm instances and the queue of callers waiting for one.
//
// Thread-safety: all methods are thread-safe. One std::mutex guards the pool; module code
// (loading, init, instance creation, invoke, destruction) always runs with it released. The
// warm path takes the mutex twice (acquire, release) and allocates nothing.

#ifndef FNHOST_SRC_HOST_FUNCTION_H_
#define FNHOST_SRC_HOST_FUNCTION_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/function_spec.h"
#include "fnhost/host.h"
#include "src/host/host_context.h"
#include "src/host/version.h"
#include "src/policy/keep_alive_controller.h"

namespace fnhost::internal {

class Function : public std::enable_shared_from_this<Function> {
 public:
  Function(const HostContext& host, FunctionSpec spec);
  ~Function();

  const std::string& name() const { return spec_.name; }
  const FunctionSpec& spec() const { return spec_; }

  absl::Status Invoke(std::string_view request, std::string* response,
                      const CallOptions& options);

  // Creates instances until `instances` exist (bounded by max_instances), loading the module
  // if needed. Runs on the calling thread.
  absl::Status Prewarm(int instances, bool report_as_prewarm = true);

  // Loads `module_path` as a new version and, once it has a warm instance, makes it current.
  absl::Status Reload(const std::string& module_path);

  // Refuses new calls; queued and running calls finish, then everything is torn down.
  void Unregister();

  // Applies the keep-alive policy: evicts, unloads, prewarms. Runs on the calling thread.
  void Maintain(absl::Time now, absl::Time wall_now);

  FunctionStatus Status();
  // Reports the pool's gauges to the metrics sink.
  void PublishGauges();

  // Waits until no call is running or queued, then destroys every instance and state.
  void Shutdown();

 private:
  struct Lease {
    Version* version = nullptr;
    Instance* instance = nullptr;
    bool cold = false;
  };
  // Instances and versions taken out of the pool under the lock, destroyed after it.
  struct Garbage {
    std::vector<std::pair<Version*, fnhost_module_instance*>> instances;
    std::vector<std::unique_ptr<Version>> versions;
  };

  absl::Status Acquire(const CallOptions& options, absl::Time start, Lease* lease);
  absl::Status AcquireSlow(std::unique_lock<std::mutex>& lock, const CallOptions& options,
                           absl::Time start, Lease* lease);
  void Release(const Lease& lease, absl::Time end);

  // Creates one instance of `version` (loading it first when `load`), with `version->starting`
  // already counted. With a lease, the instance serves that caller; otherwise it goes idle.
  absl::Status StartInstance(std::unique_lock<std::mutex>& lock, Version* version, bool load,
                             Lease* lease, bool prewarm);

  void TakeSlot(Version* version, Lease* lease, bool cold);
  void NoteArrival(absl::Time now);
  // Moves an idle instance out of `version` into `garbage`.
  void RemoveIdleInstance(Version* version, Instance* instance, Garbage* garbage);
  // Moves drained, retired versions into `garbage`.
  void CollectRetired(Garbage* garbage);
  void Destroy(Garbage& garbage);
  // Writes the state snapshot of a freshly initialised version in the background.
  void ScheduleSnapshot(Version* version);
  absl::Time CoarseNow() const;
  // After Unregister, once nothing runs or waits: retires the current version.
  void RetireIfDrained(Garbage* garbage);
  void ReportRejection(const absl::Status& status);
  void ReportInvocation(const InvocationEvent& event);
  void ReportPoolEvent(std::string_view module_version, PoolEventKind kind,
                       std::string_view reason);

  const HostContext& host_;
  const FunctionSpec spec_;

  std::mutex mu_;
  std::condition_variable cv_;  // signalled when slots free up, loads finish, or queue moves
  std::unique_ptr<Version> current_;
  std::vector<std::unique_ptr<Version>> retired_;  // draining after a reload or unregister
  std::deque<uint64_t> queue_;                     // tickets of waiting callers, FIFO
  uint64_t next_ticket_ = 0;
  int inflight_ = 0;  // calls holding an instance, all versions
  bool registered_ = true;
  KeepAliveController keep_alive_;
  // The sink's per-function recorder, or null: invocations then go to OnInvocation.
  const std::unique_ptr<InvocationRecorder> recorder_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_FUNCTION_H_
