// The process isolation mode, each against its floor:
//   BM_WorkerSpawn/64     a new worker forked from a zygote that holds the recommender's 64 MiB
//                         of state, to its first response (compare BM_StateInit/64, the init
//                         that a fresh process would run instead)
//   BM_WorkerSpawnStrict/64 BM_WorkerSpawn/64 with the strict sandbox, a memory and a pids limit
//                         (StrictSandbox below): the zygote prepared it and waits in the next
//                         worker's cgroups; each worker applies Landlock and seccomp
//   BM_WorkerSpawnRestore/64 the same from a zygote that forks before the init (as for a module
//                         whose init leaves threads): each worker restores the 64 MiB state from
//                         the snapshot mapping it inherits (a sealed memfd), then answers
//   BM_ForkExecFloor      fork + exec + wait of /bin/true from this process
//   BM_InvokeWarmIsolated a small request through Host::Invoke to a warm worker and back, with
//                         the default isolation options (spin_budget 50 us: both ends spin on
//                         the doorbell page before a blocking read)
//   BM_InvokeWarmIsolatedStrict the same with the strict sandbox and its limits, a CPU time limit
//                         included (the host reads the worker's CPU clock at each call)
//   BM_InvokeWarmIsolatedNoSpin the same with spin_budget 0: both ends block in read at once
//                         Both report child_cpu_us, the CPU time per call of the zygote and
//                         its workers (what spinning costs on the worker side; the host
//                         thread's is the CPU column).
//   BM_SocketRoundTripFloor the same bytes to a forked echo process over a socketpair and
//                         back: what any process boundary costs on this machine
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "benchmarks/recommender_state.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "src/isolation/sandbox_config.h"
#include "src/isolation/zygote_client.h"

namespace fnhost {
namespace {

// The sandbox of the *Strict benchmarks: strict, with a memory and a pids limit (cgroups where
// the host can make them) and a CPU time limit per call.
SandboxOptions StrictSandbox() {
  SandboxOptions sandbox;
  sandbox.level = SandboxOptions::Level::kStrict;
  sandbox.memory_limit_bytes = 256 << 20;
  sandbox.pids_limit = 64;
  sandbox.cpu_time_limit = absl::Seconds(10);
  return sandbox;
}

// A worker forked from a zygote of the recommender with range(0) MiB of state, to its first
// response; `fork_before_init` as ZygoteOptions says; with `sandbox`, as the host configures it.
void WorkerSpawn(benchmark::State& state, bool fork_before_init,
                 const SandboxOptions& sandbox = {}) {
  ZygoteOptions options;
  options.config.mutable_module()->set_function_name("recommender");
  options.config.mutable_module()->set_module_path(bench::RecommenderModulePath());
  options.config.mutable_module()->set_init_config(bench::RecommenderInitConfig(state.range(0)));
  options.crash_limit = 0;
  options.config.set_fork_before_init(fork_before_init);
  if (std::optional<zygote::SandboxConfig> config = internal::ZygoteSandboxConfig(sandbox)) {
    *options.config.mutable_sandbox() = *std::move(config);
  }
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  if (!zygote.ok()) {
    state.SkipWithError(std::string(zygote.status().message()).c_str());
    return;
  }
  std::string response;
  for (auto _ : state) {
    absl::StatusOr<std::unique_ptr<Worker>> worker = (*zygote)->SpawnWorker();
    absl::Status status = worker.ok() ? (*worker)->Invoke("item=1000042 k=5", &response)
                                      : worker.status();
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    state.PauseTiming();
    worker->reset();  // the zygote reaps it; not part of a spawn
    state.ResumeTiming();
  }
}

void BM_WorkerSpawn(benchmark::State& state) { WorkerSpawn(state, /*fork_before_init=*/false); }
BENCHMARK(BM_WorkerSpawn)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_WorkerSpawnStrict(benchmark::State& state) {
  WorkerSpawn(state, /*fork_before_init=*/false, StrictSandbox());
}
BENCHMARK(BM_WorkerSpawnStrict)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_WorkerSpawnRestore(benchmark::State& state) {
  WorkerSpawn(state, /*fork_before_init=*/true);
}
BENCHMARK(BM_WorkerSpawnRestore)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_ForkExecFloor(benchmark::State& state) {
  for (auto _ : state) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::execl("/bin/true", "true", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      state.SkipWithError("fork + exec of /bin/true failed");
      break;
    }
  }
}
BENCHMARK(BM_ForkExecFloor)->Unit(benchmark::kMillisecond)->UseRealTime();

// CPU time (user + system) of every descendant of this process, in microseconds: the zygotes
// and their workers. Clock-tick resolution, so meaningful over a whole benchmark run.
double DescendantsCpuMicros() {
  const double tick_us = 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  double total = 0;
  std::vector<pid_t> pending = {::getpid()};
  while (!pending.empty()) {
    pid_t pid = pending.back();
    pending.pop_back();
    // A child is listed under the thread that started it.
    std::error_code error;
    std::vector<pid_t> children;
    for (const auto& task : std::filesystem::directory_iterator(
             "/proc/" + std::to_string(pid) + "/task", error)) {
      std::ifstream in(task.path() / "children");
      for (pid_t child; in >> child;) children.push_back(child);
    }
    for (pid_t child : children) {
      pending.push_back(child);
      std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
      std::string line;
      std::getline(stat, line);
      // Fields after the command name, which ends at the last ')': utime is the 12th, stime
      // the 13th.
      std::istringstream rest(line.substr(line.rfind(')') + 2));
      std::string field;
      double utime = 0, stime = 0;
      for (int i = 1; i <= 13 && rest >> field; ++i) {
        if (i == 12) utime = std::stod(field);
        if (i == 13) stime = std::stod(field);
      }
      total += (utime + stime) * tick_us;
    }
  }
  return total;
}

void InvokeWarmIsolated(benchmark::State& state, absl::Duration spin_budget,
                        const SandboxOptions& sandbox = {}) {
  HostOptions host_options;
  std::unique_ptr<Host> host = *HostForTesting::Create(host_options);
  FunctionSpec spec;
  spec.name = "noop";
  spec.module_path = std::string(FNHOST_TEST_MODULE_DIR) + "/noop.so";
  spec.isolation.mode = IsolationOptions::Mode::kProcess;
  spec.isolation.spin_budget = spin_budget;
  spec.sandbox = sandbox;
  if (absl::Status status = host->Register(spec); !status.ok()) {
    state.SkipWithError(std::string(status.message()).c_str());
    return;
  }
  FunctionHandle handle = *host->Lookup("noop");
  const std::string request = "request";
  std::string response;
  if (absl::Status status = host->Invoke(handle, request, &response); !status.ok()) {
    state.SkipWithError(std::string(status.message()).c_str());
    return;
  }
  const double child_cpu_before = DescendantsCpuMicros();
  for (auto _ : state) {
    absl::Status status = host->Invoke(handle, request, &response);
    benchmark::DoNotOptimize(status);
  }
  state.counters["child_cpu_us"] = benchmark::Counter(
      (DescendantsCpuMicros() - child_cpu_before) / static_cast<double>(state.iterations()));
}

void BM_InvokeWarmIsolated(benchmark::State& state) {
  InvokeWarmIsolated(state, IsolationOptions().spin_budget);
}
BENCHMARK(BM_InvokeWarmIsolated)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_InvokeWarmIsolatedStrict(benchmark::State& state) {
  InvokeWarmIsolated(state, IsolationOptions().spin_budget, StrictSandbox());
}
BENCHMARK(BM_InvokeWarmIsolatedStrict)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_InvokeWarmIsolatedNoSpin(benchmark::State& state) {
  InvokeWarmIsolated(state, absl::ZeroDuration());
}
BENCHMARK(BM_InvokeWarmIsolatedNoSpin)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_SocketRoundTripFloor(benchmark::State& state) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const std::string request = "request";
  pid_t pid = ::fork();
  if (pid == 0) {  // echo until the benchmark closes its end
    ::close(fds[0]);
    char buffer[64];
    for (ssize_t n; (n = ::read(fds[1], buffer, sizeof(buffer))) > 0;) {
      if (::write(fds[1], buffer, n) != n) break;
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  char buffer[64];
  for (auto _ : state) {
    if (pid < 0 || ::write(fds[0], request.data(), request.size()) !=
                       static_cast<ssize_t>(request.size()) ||
        ::read(fds[0], buffer, sizeof(buffer)) <= 0) {
      state.SkipWithError("echo process round trip failed");
      break;
    }
  }
  ::close(fds[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
}
BENCHMARK(BM_SocketRoundTripFloor)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace fnhost
