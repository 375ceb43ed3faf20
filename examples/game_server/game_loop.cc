#include "examples/game_server/game_loop.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "examples/game_server/world.h"
#include "fnhost/host.h"
#include "fnhost/metrics.h"

namespace game {
namespace {

constexpr char kFunction[] = "behaviour";
constexpr int32_t kWorldSide = 1024;

// Remembers which path a reload took, from the host's pool events.
class ReloadWatcher : public fnhost::MetricsSink {
 public:
  void OnColdStart(const fnhost::ColdStartEvent&) override {}
  void OnInvocation(const fnhost::InvocationEvent&) override {}
  void OnPoolEvent(const fnhost::PoolEvent& event) override {
    if (event.kind != fnhost::PoolEventKind::kReload) return;
    std::lock_guard<std::mutex> lock(mutex_);
    path_ = event.reason;
    version_ = event.module_version;
  }
  void Report(GameReport* report) {
    std::lock_guard<std::mutex> lock(mutex_);
    report->reload_path = path_;
    report->reload_version = version_;
  }

 private:
  std::mutex mutex_;
  std::string path_;
  std::string version_;
};

// behaviour.so in the executable's directory, where the build puts both.
std::string DefaultModulePath() {
  std::error_code error;
  std::filesystem::path executable = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "behaviour.so";
  return (executable.parent_path() / "behaviour.so").string();
}

absl::Status Context(const absl::Status& status, std::string_view step) {
  return absl::Status(status.code(), absl::StrCat(std::string(step), ": ", status.message()));
}

absl::StatusOr<fnhost::FunctionHandle> StartBehaviour(const GameOptions& options,
                                                      fnhost::Host& host) {
  fnhost::FunctionSpec spec;
  spec.name = kFunction;
  spec.module_path = options.module_path.empty() ? DefaultModulePath() : options.module_path;
  spec.init_config = absl::StrCat(options.entities, " ", options.seed);
  spec.services = {GAME_WORLD_SERVICE};
  spec.pool.max_instances = 1;  // the module's memory lives in one State, one tick at a time
  if (options.process_isolation) spec.isolation.mode = fnhost::IsolationOptions::Mode::kProcess;
  if (absl::Status status = host.Register(spec); !status.ok()) {
    return Context(status, "registering the behaviour module");
  }
  if (absl::Status status = host.PrewarmAndWait(kFunction); !status.ok()) {
    return Context(status, "starting the behaviour module");
  }
  return host.Lookup(kFunction);
}

absl::Duration Percentile(std::vector<absl::Duration> sorted, double fraction) {
  if (sorted.empty()) return absl::ZeroDuration();
  const size_t rank = static_cast<size_t>(fraction * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)];
}

absl::Duration Since(std::chrono::steady_clock::time_point start) {
  return absl::FromChrono(std::chrono::steady_clock::now() - start);
}

// One tick: the module decides, the world moves, and both must agree on how many moves.
absl::Status Tick(uint64_t tick, fnhost::Host& host, const fnhost::FunctionHandle& behaviour,
                  World& world, std::string* request, std::string* response,
                  std::vector<absl::Duration>* latencies) {
  world.WriteTick(tick, request);
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = host.Invoke(behaviour, *request, response);
  latencies->push_back(Since(start));
  if (!status.ok()) return Context(status, absl::StrCat("tick ", tick));
  const uint64_t received = world.TakeMoves();
  uint32_t sent = 0;
  if (response->size() == sizeof(sent)) std::memcpy(&sent, response->data(), sizeof(sent));
  if (response->size() != sizeof(sent) || sent != received) {
    return absl::InternalError(absl::StrCat("tick ", tick, ": the module answered ",
                                            response->size(), " bytes (", sent,
                                            " moves), the world received ", received, " moves"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GameReport> RunGame(const GameOptions& options) {
  World world(options.entities, kWorldSide, kWorldSide, options.seed);
  ReloadWatcher watcher;
  fnhost::HostOptions host_options;
  host_options.metrics_sink = &watcher;
  absl::StatusOr<std::unique_ptr<fnhost::Host>> host = fnhost::Host::Create(host_options);
  if (!host.ok()) return Context(host.status(), "creating the host");
  if (absl::Status status = (*host)->RegisterService(world.Service()); !status.ok()) {
    return Context(status, "registering the world service");
  }
  absl::StatusOr<fnhost::FunctionHandle> behaviour = StartBehaviour(options, **host);
  if (!behaviour.ok()) return behaviour.status();

  GameReport report;
  std::vector<absl::Duration> latencies;
  latencies.reserve(std::min<uint64_t>(options.ticks, 1'000'000));
  std::string request, response;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t tick = 0; tick < options.ticks; ++tick) {
    if (options.reload_at == tick) {
      const auto reload_start = std::chrono::steady_clock::now();
      absl::Status status = (*host)->Reload(kFunction, options.reload_module);
      report.reload_time = Since(reload_start);
      if (!status.ok()) return Context(status, absl::StrCat("reload before tick ", tick));
    }
    absl::Status status =
        Tick(tick, **host, *behaviour, world, &request, &response, &latencies);
    if (!status.ok()) return status;
  }
  const absl::Duration loop = Since(start) - report.reload_time;
  report.ticks = options.ticks;
  report.checksum = world.Checksum();
  report.ticks_per_second = static_cast<double>(options.ticks) / absl::ToDoubleSeconds(loop);
  std::sort(latencies.begin(), latencies.end());
  report.p50 = Percentile(latencies, 0.50);
  report.p99 = Percentile(latencies, 0.99);
  report.max = latencies.back();
  watcher.Report(&report);
  return report;
}

}  // namespace game
