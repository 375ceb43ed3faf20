// Where a worker spawn's time goes (issue 14), each piece against its floor in the same run:
//   BM_WorkerSpawnPhases/64/<strict>  BM_WorkerSpawn/64 split (strict 1: with the sandbox of
//                            BM_WorkerSpawnStrict): spawn_to_ready_ms (fork, the worker's
//                            start and sandbox, its ready frame), first_call_ms (the first call,
//                            which faults in what it touches), warm_call_ms (the second call)
//   BM_ForkHolding/<kind>    fork + _exit + wait of this process while it holds 64 MiB of
//                            touched state: kind 0 none (the floor), 1 anonymous 4 KiB pages
//                            (what glibc's malloc gives by default), 2 anonymous transparent
//                            huge pages (what the zygote's malloc gives: glibc.malloc.hugetlb=1),
//                            3 a shared memfd mapping (file-backed: fork copies no page table
//                            for it). fork_ms is the fork call alone.
//   BM_SandboxedFork/<kind>  a mini-zygote forks a worker that applies a sandbox and exits:
//                            kind 0 none (the floor), 1 strict prepared in the zygote with the
//                            zygote's network namespace, 2 strict prepared but a network
//                            namespace per worker, 3 strict prepared in the worker itself.
//                            apply_us is ApplyInWorker as the worker measures it.
#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "benchmarks/recommender_state.h"
#include "src/isolation/sandbox_config.h"
#include "src/isolation/zygote_client.h"
#include "src/sandbox/denial_counters.h"
#include "src/sandbox/sandbox.h"

namespace fnhost {
namespace {

using SteadyClock = std::chrono::steady_clock;

double Millis(SteadyClock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

void BM_WorkerSpawnPhases(benchmark::State& state) {
  ZygoteOptions options;
  options.config.mutable_module()->set_function_name("recommender");
  options.config.mutable_module()->set_module_path(bench::RecommenderModulePath());
  options.config.mutable_module()->set_init_config(bench::RecommenderInitConfig(state.range(0)));
  options.crash_limit = 0;
  if (state.range(1) != 0) {
    SandboxOptions strict;
    strict.level = SandboxOptions::Level::kStrict;
    strict.memory_limit_bytes = 256 << 20;
    *options.config.mutable_sandbox() = *internal::ZygoteSandboxConfig(strict);
  }
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  if (!zygote.ok()) return state.SkipWithError(std::string(zygote.status().message()).c_str());
  std::string response;
  double spawn_ms = 0, first_ms = 0, warm_ms = 0;
  for (auto _ : state) {
    auto start = SteadyClock::now();
    absl::StatusOr<std::unique_ptr<Worker>> worker = (*zygote)->SpawnWorker();
    auto ready = SteadyClock::now();
    absl::Status status = worker.ok() ? (*worker)->Invoke("item=1000042 k=5", &response)
                                      : worker.status();
    auto first = SteadyClock::now();
    state.PauseTiming();
    if (status.ok()) status = (*worker)->Invoke("item=1000043 k=5", &response);
    if (!status.ok()) return state.SkipWithError(std::string(status.message()).c_str());
    warm_ms += Millis(SteadyClock::now() - first);
    spawn_ms += Millis(ready - start);
    first_ms += Millis(first - ready);
    worker->reset();
    state.ResumeTiming();
  }
  state.counters["spawn_to_ready_ms"] = benchmark::Counter(spawn_ms, benchmark::Counter::kAvgIterations);
  state.counters["first_call_ms"] = benchmark::Counter(first_ms, benchmark::Counter::kAvgIterations);
  state.counters["warm_call_ms"] = benchmark::Counter(warm_ms, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_WorkerSpawnPhases)
    ->Args({64, 0})
    ->Args({64, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// 64 MiB of touched state held as `kind` says (see the file comment), unmapped at the end.
class HeldState {
 public:
  explicit HeldState(int64_t kind) {
    if (kind == 0) return;
    int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    if (kind == 3) {
      fd_ = ::memfd_create("held-state", MFD_CLOEXEC);
      if (fd_ < 0 || ::ftruncate(fd_, kBytes) != 0) return;
      flags = MAP_SHARED;
    }
    // Twice the size, so that a 2 MiB-aligned range fits for huge pages.
    void* memory = ::mmap(nullptr, 2 * kBytes, PROT_READ | PROT_WRITE, flags, fd_, 0);
    if (memory == MAP_FAILED) return;
    mapping_ = static_cast<char*>(memory);
    char* aligned = reinterpret_cast<char*>(
        (reinterpret_cast<uintptr_t>(mapping_) + (2 << 20) - 1) & ~uintptr_t{(2 << 20) - 1});
    if (kind != 3) ::madvise(aligned, kBytes, kind == 2 ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    std::memset(kind == 3 ? mapping_ : aligned, 1, kBytes);
  }
  ~HeldState() {
    if (mapping_ != nullptr) ::munmap(mapping_, 2 * kBytes);
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  static constexpr size_t kBytes = 64 << 20;
  char* mapping_ = nullptr;
  int fd_ = -1;
};

void BM_ForkHolding(benchmark::State& state) {
  HeldState held(state.range(0));
  double fork_ms = 0;
  for (auto _ : state) {
    auto start = SteadyClock::now();
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    fork_ms += Millis(SteadyClock::now() - start);
    if (pid < 0 || ::waitpid(pid, nullptr, 0) != pid) return state.SkipWithError("fork failed");
  }
  state.counters["fork_ms"] = benchmark::Counter(fork_ms, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_ForkHolding)->DenseRange(0, 3)->Unit(benchmark::kMillisecond)->UseRealTime();

// The mini-zygote of BM_SandboxedFork: for each byte on `requests`, forks a worker that
// applies the sandbox of `kind` and exits, waits for it, and answers {total_us, apply_us}.
[[noreturn]] void MiniZygote(int kind, int requests, int answers) {
  using namespace sandbox;
  auto denials = SandboxDenials::Create();
  absl::StatusOr<ValidatedPolicy> policy =
      ValidateSandboxPolicy("bench", SandboxPolicy{.level = kind == 0 ? SandboxLevel::kOff
                                                                      : SandboxLevel::kStrict});
  if (!denials.ok() || !policy.ok()) ::_exit(1);
  const SandboxContext context{.function_name = "bench"};
  ProbeSandbox();  // as a zygote does: cached for the workers, which never probe
  std::unique_ptr<PreparedSandbox> prepared;
  if (kind != 3) prepared = *PreparedSandbox::Prepare(*policy, context);
  if (kind == 1 && !prepared->EnterInZygote().ok()) ::_exit(1);
  const WorkerResources resources{nullptr, (*denials)->page()};
  char request;
  while (::read(requests, &request, 1) == 1) {
    int report[2];
    if (::pipe(report) != 0) ::_exit(1);
    auto start = SteadyClock::now();
    pid_t pid = ::fork();
    if (pid == 0) {
      sandbox::SandboxReport in_force;
      auto begin = SteadyClock::now();
      absl::Status status = kind == 3 ? ApplyInWorker(*policy, context, resources, &in_force)
                                      : prepared->ApplyInWorker(resources, &in_force);
      double apply_us = status.ok() ? Millis(SteadyClock::now() - begin) * 1e3 : -1;
      ::_exit(::write(report[1], &apply_us, sizeof(apply_us)) == sizeof(apply_us) ? 0 : 1);
    }
    double times[2] = {0, -1};
    ::close(report[1]);
    if (pid < 0 || ::read(report[0], &times[1], sizeof(double)) != sizeof(double)) times[1] = -1;
    ::close(report[0]);
    ::waitpid(pid, nullptr, 0);
    times[0] = Millis(SteadyClock::now() - start) * 1e3;
    if (::write(answers, times, sizeof(times)) != sizeof(times)) ::_exit(1);
  }
  ::_exit(0);
}

// The mini-zygote is this executable again (posix_spawn: this process has threads, so it must
// not fork one that runs code), told so by the environment, with its pipes as fds 3 and 4.
constexpr char kMiniZygoteVariable[] = "FNHOST_BENCH_MINI_ZYGOTE";
const bool kIsMiniZygote = [] {
  const char* kind = std::getenv(kMiniZygoteVariable);
  if (kind != nullptr) MiniZygote(std::atoi(kind), 3, 4);
  return false;
}();

void BM_SandboxedFork(benchmark::State& state) {
  int requests[2], answers[2];
  if (::pipe2(requests, O_CLOEXEC) != 0 || ::pipe2(answers, O_CLOEXEC) != 0) {
    return state.SkipWithError("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, requests[0], 3);
  posix_spawn_file_actions_adddup2(&actions, answers[1], 4);
  std::string variable = absl::StrCat(kMiniZygoteVariable, "=", state.range(0));
  char* argv[] = {const_cast<char*>("fnhost-bench-mini-zygote"), nullptr};
  char* envp[] = {variable.data(), nullptr};
  pid_t zygote = 0;
  int error = ::posix_spawn(&zygote, "/proc/self/exe", &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  ::close(requests[0]);
  ::close(answers[1]);
  if (error != 0) return state.SkipWithError("posix_spawn of the mini-zygote failed");
  double apply_us = 0;
  for (auto _ : state) {
    double times[2];
    if (::write(requests[1], "x", 1) != 1 ||
        ::read(answers[0], times, sizeof(times)) != sizeof(times) || times[1] < 0) {
      state.SkipWithError("the mini-zygote or its worker failed");
      break;
    }
    state.SetIterationTime(times[0] / 1e6);
    apply_us += times[1];
  }
  ::close(requests[1]);
  ::close(answers[0]);
  ::waitpid(zygote, nullptr, 0);
  state.counters["apply_us"] = benchmark::Counter(apply_us, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_SandboxedFork)->DenseRange(0, 3)->Unit(benchmark::kMicrosecond)->UseManualTime();

}  // namespace
}  // namespace fnhost
