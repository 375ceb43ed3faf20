// Function: one registered function — its current (stable) version, an optional canary version
// that receives a set share of the calls, the versions still draining after a reload, the pool
// of warm instances and the queue of callers waiting for one.
//
// Traffic split: each call admitted while registered takes the next routing decision, in the
// order calls take the pool lock. With a canary share of p millionths, a credit grows by p per
// call and a call goes to the canary when the credit reaches one million (which is then taken
// off). The credit starts at half a million whenever the share is set, so the first N calls
// after that give the canary round(N*p/1e6) calls, and any N consecutive calls floor(N*p/1e6)
// or one more, with no randomness. Both versions share the pool limits: max_instances caps
// their instances together (a version at the cap evicts an idle instance of the other one to
// make room), and the queue is one FIFO for both (a caller keeps its routing decision while it
// waits, unless its canary is cleared or promoted: it then goes to what is then the stable
// version).
//
// Thread-safety: all methods are thread-safe. One std::mutex guards the pool; module code
// (loading, init, instance creation, invoke, destruction) always runs with it released. The
// warm path takes the mutex twice (acquire, release), spinning briefly before it blocks (see
// src/common/spin_lock.h), and allocates nothing; without a canary it costs one more pointer
// test.

#ifndef FNHOST_SRC_HOST_FUNCTION_H_
#define FNHOST_SRC_HOST_FUNCTION_H_

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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
  // A canary, if any, stays and keeps its share.
  absl::Status Reload(const std::string& module_path);

  // Loads `module_path` as the canary (from its own sealed copy, initialised and with one instance
  // created off the request path), then sends `share` of new calls to it, replacing any
  // previous canary (which drains). On failure nothing changes and the error is returned.
  absl::Status SetCanary(const std::string& module_path, double share);
  // Changes the canary's share; FAILED_PRECONDITION without a canary.
  absl::Status SetCanaryShare(double share);
  // Makes the canary the stable version (the old one drains); FAILED_PRECONDITION without one.
  absl::Status PromoteCanary();
  // Sends every call to the stable version again; the canary drains. OK without a canary.
  absl::Status ClearCanary();

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
    struct Dead {
      Version* version;
      BackendInstance* handle;
      bool evicted;  // by the pool (keep-alive, room for the other version): counted
    };
    std::vector<Dead> instances;
    std::vector<std::unique_ptr<Version>> versions;
    bool empty() const { return instances.empty() && versions.empty(); }
  };

  absl::Status Acquire(const CallOptions& options, Lease* lease);
  absl::Status AcquireSlow(std::unique_lock<std::mutex>& lock, const CallOptions& options,
                           bool to_canary, Lease* lease);
  // The next routing decision of the traffic split: true sends the call to the canary.
  bool RouteToCanary();
  // The version a caller routed to the canary (or not) uses now.
  Version* Target(bool to_canary) const {
    return to_canary && canary_ != nullptr ? canary_.get() : current_.get();
  }
  // Instances of the stable version and the canary, counted against max_instances.
  int PoolInstances() const;
  int PoolStarting() const;
  // Moves the oldest idle instance of the active versions other than `keep` (or, with
  // `include_keep`, of `keep` too) into `garbage`; false when there is none.
  bool EvictIdleForRoom(const Version* keep, bool include_keep, Garbage* garbage);

  // A version loaded and initialised off the request path, with `instances` instances created
  // (at least one; if a later one fails, those created so far).
  absl::StatusOr<std::unique_ptr<Version>> Stage(const std::string& module_path, int instances);
  // Adds a new instance to `version`, with all its slots free.
  void AddInstance(Version* version, BackendInstance* handle);
  // Makes a staged version active (the stable one, or the canary), retiring the one it
  // replaces. Fails when the function was unregistered meanwhile.
  absl::Status Install(std::unique_ptr<Version> staged, bool as_canary, Garbage* garbage);
  void Retire(std::unique_ptr<Version> version);
  void Release(const Lease& lease);

  // Creates one instance of `version` (loading it first when `load`), with `version->starting`
  // already counted. With a lease, the instance serves that caller; otherwise it goes idle.
  absl::Status StartInstance(std::unique_lock<std::mutex>& lock, Version* version, bool load,
                             Lease* lease, bool prewarm);

  void TakeSlot(Version* version, Lease* lease, bool cold);
  // Moves an idle instance out of `version` into `garbage`; `evicted` reports it as an
  // eviction (not for the drain of a retired version).
  void RemoveIdleInstance(Version* version, Instance* instance, Garbage* garbage,
                          bool evicted = false);
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
  // The canary, or null: no traffic split. Stays loaded while set (keep-alive may evict its
  // instances, but does not unload it).
  std::unique_ptr<Version> canary_;
  uint32_t canary_millionths_ = 0;  // share of calls routed to the canary
  uint32_t split_credit_ = 0;       // Bresenham credit, see the comment at the top
  std::vector<std::unique_ptr<Version>> retired_;  // draining after a reload or unregister
  // Tickets of waiting callers, FIFO. A vector, not a deque: an empty deque allocates 600
  // bytes, and most functions never queue; max_queue bounds the cost of erasing at the front.
  std::vector<uint64_t> queue_;
  uint64_t next_ticket_ = 0;
  int inflight_ = 0;  // calls holding an instance, all versions
  bool registered_ = true;
  KeepAliveController keep_alive_;
  // The sink's per-function recorder, or null: invocations then go to OnInvocation.
  const std::unique_ptr<InvocationRecorder> recorder_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_HOST_FUNCTION_H_
