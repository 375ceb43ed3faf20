// Host: registers functions by name and invokes them, loading modules lazily.
//
// Register records a name and a module path and loads nothing. The first Invoke (or a Prewarm)
// reads the file once into a sealed copy in memory, checks it, dlopens the copy, checks its ABI,
// builds its state and creates an instance; later calls take a warm instance from the
// function's pool. Concurrent first calls cause exactly one load and one state init. Errors are
// returned as absl::Status values naming the function, the file and the cause; a bad module
// never stops the host from serving other functions, and a module file rewritten or truncated
// on disk changes nothing for the version already loaded.
//
// Asynchronous calls (InvokeAsync) never block their caller: an event-loop server calls them
// from its loop thread, and the completion comes back on an Executor it provides (see the
// README, "Embedding in an event loop").
//
// Thread-safety: every method may be called from any thread at any time, including Register,
// Reload, the canary calls and Unregister racing with Invoke. Unregistering a function with a
// canary drains and unloads both versions. A FunctionHandle is a cheap, copyable reference to
// one registered function; it skips the name lookup and stays safe to use after Unregister
// (calls then fail with NOT_FOUND).

#ifndef FNHOST_HOST_H_
#define FNHOST_HOST_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "absl/time/time.h"
#include "fnhost/cancellation.h"
#include "fnhost/call_context.h"
#include "fnhost/clock.h"
#include "fnhost/executor.h"
#include "fnhost/function_spec.h"
#include "fnhost/host_service.h"
#include "fnhost/log_sink.h"
#include "fnhost/metrics.h"

namespace fnhost {

// The implicit copy and move of HostOptions must not warn about private_dir.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
struct HostOptions {
  // Time source for deadlines, keep-alive and latencies. Not owned; must outlive the host.
  // Default: nullptr, the real clock.
  Clock* clock = nullptr;
  // Receives cold-start, invocation, pool and snapshot events. Not owned; must outlive the
  // host. Default: nullptr, no metrics and no clock reads for them.
  MetricsSink* metrics_sink = nullptr;
  // Accept module files that are writable by group or others. Default: false, because anyone
  // who can write the file can run code inside the host.
  bool allow_writable_modules = false;
  // Deprecated and ignored: every module is loaded from a sealed copy in memory, and nothing
  // is written to disk. Kept so that code that sets it still compiles (with a deprecation
  // warning); it will be removed. Default: empty.
  [[deprecated("modules load from sealed in-memory copies; private_dir is ignored")]]
  std::string private_dir;
  // Directory of state snapshots; a relative path is made absolute against the current
  // directory by Host::Create. Default: empty, snapshots off.
  std::string snapshot_dir;
  // Skip checksums of section contents on restore when the snapshot directory can be written
  // only by this user (the zero-copy fast path). Headers are always checked. Default: true.
  bool trust_private_snapshot_dir = true;
  // How often the maintenance thread wakes up (keep-alive, min_instances, prewarming; see
  // fnhost/testing.h for a host whose maintenance a test runs itself). Default: 1 second.
  absl::Duration maintenance_interval = absl::Seconds(1);
  // The fnhost-zygote executable that functions in process isolation start (relative: as
  // snapshot_dir). Default: empty, the one next to the running executable, else the one in
  // fnhost's build tree.
  std::string zygote_executable;
  // Memory all functions' instances share, in MB (1 GB = 1024 MB); 0 for none. Each instance is
  // charged its function's pool.keep_alive.instance_memory_mb (declared, not measured), from
  // before it is created until it is destroyed, and the sum never exceeds the budget. An
  // instance that does not fit evicts idle instances of other functions, lowest Greedy-Dual
  // priority first (clock + calls so far / GB, the order `fnhost sim --memory-budget` replays;
  // README, "Under a node's memory budget"); a module whose last instance goes is unloaded as
  // its keep-alive policy would. When every instance holding the memory is busy, the call
  // waits in its function's queue, as at max_instances, for an instance of its own function,
  // for memory freed, or for an idle instance to evict (seen at the next maintenance pass);
  // past its deadline it fails with DEADLINE_EXCEEDED, or at once with RESOURCE_EXHAUSTED when
  // the queue is full, both with the rejection reason "memory_budget". Prewarm,
  // PrewarmAndWait and min_instances at Register evict too; the maintenance pass's prewarms
  // (keep-alive predictions, min_instances top-ups) use only free memory. Register refuses a
  // function whose instance_memory_mb is larger than the budget. Calls that find an idle
  // instance never touch the budget. Default: 0, no budget.
  double memory_budget_mb = 0;
  // Where the completions of asynchronous calls run when a call names no executor of its own
  // (CallOptions::executor). Not owned; must outlive the host and every completion. Default:
  // nullptr, the host's own threads.
  Executor* completion_executor = nullptr;
  // The host's threads for asynchronous calls: they run queued, cold and not-inline calls of
  // functions in process, cold starts of isolated ones, and the completions that go to no other
  // executor. Started with the first asynchronous call that needs one. Default: 2.
  int async_threads = 2;
  // Receives what modules log, tagged with the function, module version and call id. Not
  // owned; must outlive the host. Default: nullptr, lines go to stderr.
  LogSink* log_sink = nullptr;
  // The built-in `kv` service's cap: keys and values of every entry together, in bytes. A set
  // past it fails with RESOURCE_EXHAUSTED. Default: 64 MiB.
  uint64_t kv_max_bytes = uint64_t{64} << 20;
};
#pragma GCC diagnostic pop

struct CallOptions {
  // How long the call may wait for an instance (queueing and cold start). In-process module
  // code cannot be interrupted, so a call that has started runs to its end. Default: infinite,
  // which means the function's PoolOptions::default_timeout.
  absl::Duration timeout = absl::InfiniteDuration();
  // The whole call's deadline, on the host's Clock. The module sees it (its call context's
  // deadline, on CLOCK_MONOTONIC). Past it the call is cancelled as by `cancellation` (see
  // fnhost/cancellation.h), with DEADLINE_EXCEEDED: a queued call leaves the queue, a call in a
  // worker process is dropped or its worker killed, a call running in the host process runs to
  // its end; a running call's cancelled flag is set for the module to see. Default: none.
  absl::Time deadline = absl::InfiniteFuture();
  // Lets the caller give up on the call (fnhost/cancellation.h). Not owned; must outlive the
  // call. Default: nullptr.
  CancellationToken* cancellation = nullptr;
  // When a call in a worker process is cancelled (token or deadline): kill the worker (the
  // pool replaces it) rather than let it finish the call and drop the result. Killing frees
  // the worker's CPU at once; letting it finish saves a spawn. Default: false.
  bool cancel_kills_worker = false;
  // InvokeAsync: a call that finds a free warm instance in the host process may run on the
  // calling thread, its completion too, before InvokeAsync returns. False sends every call and
  // its completion to other threads (the completion to `executor`). A call with a
  // `cancellation` token or a `deadline` never runs inline: its cancellation must reach the
  // module's flag while it runs. Default: true.
  bool allow_inline = true;
  // InvokeAsync: where the completion runs, unless it ran inline. Not owned; must outlive the
  // call. Default: nullptr, HostOptions::completion_executor.
  Executor* executor = nullptr;
  // The call's metadata, deadline and trace context, and where its response metadata, id and
  // span go (fnhost/call_context.h). Not owned; used during the call only. Default: nullptr,
  // none.
  CallContext* context = nullptr;
};

// The completion of an asynchronous call: its status and the response string the caller
// passed (on an error, cleared or holding what the module wrote).
using InvokeCallback = absl::AnyInvocable<void(absl::Status status, std::string* response)>;

// A call refused without running because no instance was free for it (the function's queue
// was full, or the call's deadline passed while it waited in the queue) carries a payload
// under this type URL whose value is the reason, "queue_full" or "deadline", or
// "memory_budget" when the instances holding the host's memory budget were busy. A server
// can then answer "try again later" (HTTP 429) rather than "the call ran too long", without
// parsing the message.
inline constexpr char kRejectionPayloadUrl[] = "type.fnhost.dev/fnhost.Rejection";

// The reason a call was refused for want of an instance (see kRejectionPayloadUrl), or an
// empty string for any other status.
inline std::string RejectionReason(const absl::Status& status) {
  auto reason = status.GetPayload(kRejectionPayloadUrl);  // absl::optional in Debian's Abseil
  return reason.has_value() ? std::string(*reason) : std::string();
}

namespace internal {
class Function;
}  // namespace internal

class FunctionHandle {
 public:
  FunctionHandle() = default;
  const std::string& name() const;
  bool valid() const { return function_ != nullptr; }

 private:
  friend class HostImpl;
  explicit FunctionHandle(std::shared_ptr<internal::Function> function)
      : function_(std::move(function)) {}
  std::shared_ptr<internal::Function> function_;
};

// What a function looks like right now.
struct FunctionStatus {
  std::string name;
  std::string module_path;     // of the stable version
  std::string module_version;  // of the stable version; empty until loaded
  bool loaded = false;         // the stable version
  int idle_instances = 0;      // stable and canary together, as max_instances counts them
  int busy_instances = 0;
  int queued_calls = 0;
  // The canary, while one is set (see Host::SetCanary).
  struct Canary {
    std::string module_path;
    std::string module_version;
    double share = 0;  // of new calls, as set (to a millionth)
    int idle_instances = 0;
    int busy_instances = 0;
  };
  std::optional<Canary> canary;
};

class Host {
 public:
  static absl::StatusOr<std::unique_ptr<Host>> Create(HostOptions options = {});

  Host() = default;
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;
  // Waits for in-flight calls to finish, then destroys every instance and state and unloads
  // every module.
  virtual ~Host() = default;

  // Adds a function. ALREADY_EXISTS if the name is taken; INVALID_ARGUMENT for a bad spec.
  virtual absl::Status Register(FunctionSpec spec) = 0;

  // Removes a function. New calls get NOT_FOUND at once; calls in flight (and queued) finish,
  // and the module is unloaded when the last of them returns.
  virtual absl::Status Unregister(std::string_view name) = 0;

  // Looks a function up once, for the handle-based fast path.
  virtual absl::StatusOr<FunctionHandle> Lookup(std::string_view name) = 0;

  // Calls a function by name.
  virtual absl::StatusOr<std::string> Invoke(std::string_view name, std::string_view request,
                                             const CallOptions& options = {}) = 0;

  // Calls a function through a handle. `response` is overwritten, reusing its capacity, so a
  // caller that keeps one string per thread makes no heap allocation on the warm path. A call
  // with a cancellation token or a deadline waits for InvokeAsync's completion instead.
  virtual absl::Status Invoke(const FunctionHandle& function, std::string_view request,
                              std::string* response, const CallOptions& options = {}) = 0;

  // Calls a function without blocking: `done` runs once, with the call's status and
  // `response`. A call that finds a free warm instance in the host process runs on the calling
  // thread, and `done` with it, before InvokeAsync returns (unless options.allow_inline is
  // false): that path makes no heap allocation. Every other call (queued, cold, isolated, or
  // not inline) returns at once and completes later, its `done` posted to options.executor
  // (default: HostOptions::completion_executor, else the host's threads). An isolated call
  // takes no thread while its worker runs it: one poller thread completes isolated calls as
  // their responses arrive.
  //
  // Lifetime, as with Asio's buffers: the bytes of `request` and `*response` are the
  // caller's, and must stay valid and untouched until `done` runs (no copy is made, and
  // `response` keeps its capacity from call to call). `options` is copied; the executor and
  // the token it names must outlive the call. Destroying the host waits for the calls in
  // flight to complete.
  virtual void InvokeAsync(const FunctionHandle& function, std::string_view request,
                           std::string* response, InvokeCallback done,
                           const CallOptions& options = {}) = 0;

  // Makes `instances` instances of a function warm (loading it if needed) in the background;
  // returns once the work is scheduled. NOT_FOUND for an unknown function.
  virtual absl::Status Prewarm(std::string_view name, int instances = 1) = 0;

  // Like Prewarm, but waits until the instances are warm and returns the first error.
  virtual absl::Status PrewarmAndWait(std::string_view name, int instances = 1) = 0;

  // Loads `module_path` as the function's new version from a private copy, initialises it off
  // the request path, with as many instances as the old version has, then switches new calls to
  // it. In-flight calls finish on the old version, which is unloaded once drained. On failure the
  // old version keeps serving and the error is returned.
  // A canary set with SetCanary stays, with its share.
  virtual absl::Status Reload(std::string_view name, std::string_view module_path) = 0;

  // Traffic split. A function may have a second version, the canary, that receives `share`
  // (0 to 1) of its calls; the stable version gets the rest. The split is deterministic: calls
  // are routed in the order they reach the function's pool, and over any N consecutive calls
  // the canary gets floor(N * share) or one more (share resolved to a millionth), so a canary
  // of 0.25 gets exactly every fourth call. Both versions share the function's pool limits:
  // max_instances caps their instances together (a version that needs one at the cap evicts an
  // idle instance of the other), max_queue and the FIFO queue are one for both, and a queued
  // caller keeps its version. Metrics carry each call's module version (see metrics.h), so the
  // two are told apart when their version strings differ. The canary is never unloaded by the
  // keep-alive policy while it is set; its idle instances are evicted like the stable ones.
  //
  // SetCanary loads `module_path` from a private copy, initialises it and creates one instance
  // off the request path, then starts routing; it replaces a canary already set (which drains
  // like a reloaded version). If the canary fails to load or initialise, the error is returned
  // and the stable version keeps all traffic. NOT_FOUND for an unknown function,
  // INVALID_ARGUMENT for a share outside [0, 1].
  virtual absl::Status SetCanary(std::string_view name, std::string_view module_path,
                                 double share) = 0;
  // Changes the canary's share (e.g. ramping 0.01 -> 0.1 -> 0.5) without reloading it.
  // FAILED_PRECONDITION when there is no canary.
  virtual absl::Status SetCanaryShare(std::string_view name, double share) = 0;
  // Makes the canary the stable version, with all traffic; the old stable version drains and
  // is unloaded, as after a Reload (and is counted as one). FAILED_PRECONDITION without one.
  virtual absl::Status PromoteCanary(std::string_view name) = 0;
  // Rolls back: every new call goes to the stable version; the canary drains and is unloaded.
  // OK when there is no canary, so that a rollback can always be run.
  virtual absl::Status ClearCanary(std::string_view name) = 0;

  virtual std::vector<FunctionStatus> ListFunctions() = 0;

  // Reports every function's PoolGauges to the metrics sink now (e.g. before a scrape).
  virtual void PublishGauges() = 0;

  // Offers a host service to the functions that are granted it (FunctionSpec::services; see
  // fnhost/host_service.h). It stays registered for the host's life. ALREADY_EXISTS for a name
  // taken (the built-in "kv" and "metrics" included); INVALID_ARGUMENT for a bad name, version
  // 0, no form at all, or a service that has only a typed form while a function in process
  // isolation is granted it (the typed form cannot cross into a worker process).
  virtual absl::Status RegisterService(ServiceSpec service) = 0;
};

}  // namespace fnhost

#endif  // FNHOST_HOST_H_
