// FunctionSpec: everything the host needs to know to serve one function by name.
//
// A spec is plain data, copied into the host by Host::Register; nothing is loaded or checked
// until the first call or prewarm, except what can be checked without touching the module file
// (a well-formed name, a non-empty path, consistent pool bounds).

#ifndef FNHOST_FUNCTION_SPEC_H_
#define FNHOST_FUNCTION_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "fnhost/sandbox_options.h"

namespace fnhost {

// The instance memory, in MB, assumed when none is given, and for which a memory-scaled
// keep-alive's idle_timeout is meant (KeepAliveOptions::scale_by_memory).
inline constexpr double kReferenceInstanceMemoryMb = 128;

// How long idle instances are kept and when instances are created ahead of demand.
struct KeepAliveOptions {
  enum class Kind {
    kFixed,      // keep an idle instance for `idle_timeout`, then evict it
    kScheduled,  // kFixed, plus `scheduled_instances` kept warm inside `daily_windows`
    kHybrid,     // learn the function's idle-time histogram (Shahrad et al., ATC 2020)
  };
  Kind kind = Kind::kFixed;

  // How long an idle instance stays warm before it is evicted (kFixed, kScheduled).
  // Default: 10 minutes, the AWS Lambda baseline.
  absl::Duration idle_timeout = absl::Minutes(10);

  // Unload the module (dlclose) when its last instance is evicted, so that the next call is a
  // full cold start. Default: true (scale to zero).
  bool unload_when_idle = true;

  // kScheduled: daily windows, in minutes after local midnight [begin, end), during which
  // `scheduled_instances` instances are kept warm. Default: none.
  struct DailyWindow {
    int begin_minute = 0;
    int end_minute = 0;
  };
  std::vector<DailyWindow> daily_windows;
  int scheduled_instances = 1;

  // kScheduled: when positive, make sure an instance is warm at least every `warm_every`
  // (the periodic warmer operators run today). Default: 0, off.
  absl::Duration warm_every = absl::ZeroDuration();

  // kFixed, kScheduled: read idle_timeout as the keep-alive of an instance of
  // kReferenceInstanceMemoryMb (128 MB), and keep an instance of instance_memory_mb for
  // idle_timeout * 128 / instance_memory_mb, so that every instance spends the same idle memory
  // (GB-s) per idle period. Default: false (every instance keeps idle_timeout).
  bool scale_by_memory = false;

  // kHybrid: what one cold start is worth in idle instance memory, in GB-seconds (1 GB =
  // 1024 MB). Each instance is kept warm for the time that would have cost least, idle memory
  // plus this price per cold start, over its own idle times so far (the first instance, whose
  // cold start also loads the module, at 8 times the price). A higher price buys fewer cold
  // starts with more idle memory. Default: 512, an operating point picked with fnhost sim on
  // real and generated traces (README, "Keep-alive policies on a trace").
  double cold_start_cost_gb_s = 512;

  // The memory one idle instance holds, in MB. kHybrid weighs it against
  // cold_start_cost_gb_s (at the defaults an extra instance is worth keeping through an idle
  // time of up to 512 GB-s / 128 MB = 68 minutes when that spares a cold start), and
  // scale_by_memory against 128 MB. fnhost sim sets it from the trace's memory per function.
  // Default: kReferenceInstanceMemoryMb, 128.
  double instance_memory_mb = kReferenceInstanceMemoryMb;
};

struct PoolOptions {
  // Instances kept warm at all times, created in the background after Register. Default: 0.
  int min_instances = 0;
  // Hard cap on instances. Default: 8.
  int max_instances = 8;
  // Calls one instance serves at once. 0 means what the module declares (1 unless it declares
  // itself thread-safe); a value above the module's declaration is an error. Default: 0.
  int max_concurrency_per_instance = 0;
  // Calls that may wait for an instance when all are busy and the cap is reached; the next
  // one gets RESOURCE_EXHAUSTED at once. Default: 64.
  int max_queue = 64;
  // Deadline for a call that sets none in CallOptions. Default: 30 seconds.
  absl::Duration default_timeout = absl::Seconds(30);
  KeepAliveOptions keep_alive;
};

// Where a function's module code runs. In process mode a zygote process per module version
// loads the module and builds its state once; each pool instance is a worker process forked from
// it (copy-on-write), serving one call at a time. A crash, an abort, an endless loop or a memory
// blow-up then ends one worker with an error naming the function and the signal or limit, and
// the host and every other function keep serving. With snapshots on, the zygote restores the
// state from a snapshot, or writes one after an init before its first worker starts. Each worker
// serves one call at a time, so pool.max_concurrency_per_instance must be 0 or 1. See the
// README, "Process isolation".
struct IsolationOptions {
  enum class Mode {
    kInProcess,  // in the host process: fastest, but a crashing module takes the host down
    kProcess,    // in worker processes forked from a per-version zygote
  };
  Mode mode = Mode::kInProcess;

  // The fields below apply to kProcess only.

  // Address space a worker may add beyond what it inherits from its zygote and the state it
  // restores or builds (RLIMIT_AS, so virtual memory). A call that reaches it fails with
  // RESOURCE_EXHAUSTED naming the limit, and its worker is replaced. 0 = no limit. Default: 0.
  uint64_t memory_limit_bytes = 0;
  // How long one call (or a worker's start) may run, in real time; past it the worker is killed
  // and replaced, and the call fails with DEADLINE_EXCEEDED. A worker that runs the module's
  // init itself (see fork_point) has no limit on its start, as a zygote's init has none.
  // Default: no limit.
  absl::Duration invoke_timeout = absl::InfiniteDuration();
  // Circuit breaker: after `crash_limit` workers are lost (crash, timeout, memory limit) within
  // `crash_window`, no worker is spawned for `crash_backoff`: calls that need a new worker fail
  // with UNAVAILABLE saying so, instead of a fork storm. crash_limit 0 turns it off.
  // Default: 5 crashes within 60 s, 30 s of backoff.
  int crash_limit = 5;
  absl::Duration crash_window = absl::Seconds(60);
  absl::Duration crash_backoff = absl::Seconds(30);
  // Busy-polling before a blocking read: the host thread waiting for a worker's response, and a
  // worker waiting for its next request after a response, spin for up to this long on a page
  // shared with the other side (no system call per poll), which saves a small
  // call the sleep and wake-up of a blocking read on each side. Each wait burns at most this
  // much CPU, and only while waits keep ending within it: after a wait that took longer (a
  // slow function, an idle worker, a CPU too crowded for spinning to help) the next 1, 2, 4...
  // up to 64 waits block at once. Capped at 1 ms; zero turns it off (BM_InvokeWarmIsolated and
  // BM_InvokeWarmIsolatedNoSpin compare both). Default: 50 us.
  absl::Duration spin_budget = absl::Microseconds(50);
  // Where workers fork from. A process with threads cannot fork safely, so when the module's
  // init leaves threads running (an OpenMP or BLAS pool, a gRPC or curl client), workers fork
  // from the point just after loading the module instead of after the init, and each worker
  // restores the state from a snapshot written once by a process that ran the init (in a sealed
  // memfd, or the host's snapshot_dir), or runs the init itself if the module does not support
  // snapshots. The metric fnhost_isolation_mode{function,mode} says which.
  enum class ForkPoint {
    kAuto,        // after the init, unless the init leaves threads: the zygote that ran it
                  // then writes the snapshot and hands over to one that forks before the
                  // init; found out once per version and remembered
    kBeforeInit,  // always before the init, for a module known to start threads: saves the
                  // first start a zygote, and, without snapshot support, an init
  };
  // Default: kAuto.
  ForkPoint fork_point = ForkPoint::kAuto;
};

// A second version of the function's module that receives a share of its calls (see
// Host::SetCanary): loaded and initialised in the background after Register; until then, or if
// it fails, the stable version takes every call.
struct CanarySpec {
  // Path of the canary's module, relative paths as FunctionSpec::module_path. Default: empty,
  // no canary.
  std::string module_path;
  // Share of the calls routed to the canary, from 0 to 1. Default: 0.
  double share = 0;
};

struct FunctionSpec {
  // The name callers use: 1 to 128 characters of [A-Za-z0-9_.-]. Required.
  std::string name;
  // Path of the module's shared object. Required. A relative path is made absolute against the
  // current directory when Host::Register runs (as are the paths given to Host::Reload and
  // Host::SetCanary when they run), never looked up in the library search path as dlopen
  // would; a later chdir does not change which file the function loads.
  std::string module_path;
  // Lower-case hex SHA-256 the module file must have. Default: empty, not pinned.
  std::string sha256;
  // Bytes handed to the module's state_create. Default: empty.
  std::string init_config;
  // Restore the state from a snapshot when one matches, and write one after an init. Only
  // with HostOptions::snapshot_dir set and a module that supports snapshots; also, in process
  // isolation, whether workers forked before the init restore their state from a snapshot
  // (see IsolationOptions::fork_point) rather than run the init. Default: true.
  bool use_snapshots = true;
  PoolOptions pool;
  // Default: no canary.
  CanarySpec canary;
  // Default: in process.
  IsolationOptions isolation;
  // What the function's workers may do, in process isolation (fnhost/sandbox_options.h); a
  // level other than kOff needs isolation.mode kProcess. Default: kOff, no sandbox.
  SandboxOptions sandbox;

  // Host services the module may require (sdk::InitContext::RequireService), by name: those
  // registered with Host::RegisterService and the built-in "kv" and "metrics". A module asking
  // for any other is refused with PERMISSION_DENIED naming it (NOT_FOUND when the host has no
  // such service). Under process isolation every service listed that is registered already must
  // have a bytes form. Default: none.
  std::vector<std::string> services;
};

}  // namespace fnhost

#endif  // FNHOST_FUNCTION_SPEC_H_
