// `fnhost serve`: the Host behind an HTTP server on an event loop (http_server.h, Boost.Beast
// over Asio), with the routes of serve_router.h. SIGTERM or SIGINT drains: the server stops
// accepting, /readyz turns 503, the calls in flight finish (for up to --drain-timeout), and
// the process exits 0.
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "fnhost/host.h"
#include "fnhost/metrics.h"
#include "src/cli/commands.h"
#include "src/cli/flags.h"
#include "src/cli/http_server.h"
#include "src/cli/module_watcher.h"
#include "src/cli/serve_router.h"
#include "src/config/config_loader.h"

namespace fnhost::cli {
namespace {

constexpr char kUsage[] =
    "usage: fnhost serve [--config=FILE] [--port=8080] [--host=127.0.0.1] [--watch]\n"
    "                    [--snapshot-dir=DIR] [--max-body-bytes=16777216]\n"
    "                    [--drain-timeout=30s] [--threads=2] [--metadata-prefix=x-fn-]\n"
    "  POST /invoke/NAME  call a function     GET /metrics  Prometheus text\n"
    "  GET /healthz       liveness            GET /readyz   readiness (min_instances warm)\n"
    "  SIGTERM drains: stop accepting, finish calls in flight, exit 0.\n";

std::string DefaultConfig() {
#ifdef FNHOST_DEFAULT_CONFIG
  if (std::filesystem::exists(FNHOST_DEFAULT_CONFIG)) return FNHOST_DEFAULT_CONFIG;
#endif
  return "";
}

// Registers every function of the config, and watches its module for --watch.
bool RegisterFunctions(Host& host, const HostConfig& config, const std::string& config_path,
                       ModuleWatcher& watcher) {
  for (const FunctionSpec& spec : config.functions) {
    if (absl::Status status = host.Register(spec); !status.ok()) {
      std::fprintf(stderr, "fnhost serve: %s: %s\n", config_path.c_str(),
                   std::string(status.message()).c_str());
      return false;
    }
    watcher.Watch(spec.name, spec.module_path);
    std::fprintf(stderr, "fnhost serve: registered %s -> %s\n", spec.name.c_str(),
                 spec.module_path.c_str());
  }
  return true;
}

// How the watcher stops: the signal thread sets `stopping`.
struct Stopper {
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
};

// With --watch: reloads a function whose module file changed, once a second, until stopped.
std::thread WatchModules(Host& host, ModuleWatcher& watcher, Stopper& stopper) {
  return std::thread([&] {
    std::unique_lock<std::mutex> lock(stopper.mu);
    while (!stopper.cv.wait_for(lock, std::chrono::seconds(1),
                                [&] { return stopper.stopping; })) {
      lock.unlock();
      for (const ModuleWatcher::Change& change : watcher.Poll()) {
        absl::Status status = host.Reload(change.function, change.path);
        std::fprintf(stderr, "fnhost serve: %s changed: %s\n", change.path.c_str(),
                     status.ok() ? "reloaded" : std::string(status.message()).c_str());
      }
      lock.lock();
    }
  });
}

struct ServeFlags {
  std::string config_path;
  HttpServer::Options http;
  absl::Duration drain_timeout = absl::Seconds(30);
  std::string snapshot_dir;
  bool watch = false;
  std::string metadata_prefix = "x-fn-";  // request and response headers <-> call metadata
};

// Parses the flags; 0 when they are good, else the exit code (the error printed).
int ParseServeFlags(int argc, char** argv, ServeFlags* out) {
  absl::StatusOr<Flags> flags = Flags::Parse(
      argc, argv, 2,
      {"config", "port", "host", "snapshot-dir", "max-body-bytes", "drain-timeout", "threads",
       "metadata-prefix"},
      {"watch"});
  if (!flags.ok() || !flags->positional().empty()) {
    std::fprintf(stderr, "fnhost serve: %s\n%s",
                 flags.ok() ? "unexpected argument" : std::string(flags.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  absl::StatusOr<int64_t> port = flags->GetInt("port", 8080);
  absl::StatusOr<int64_t> body = flags->GetInt("max-body-bytes", 16 << 20);
  absl::StatusOr<int64_t> threads = flags->GetInt("threads", 2);
  absl::StatusOr<absl::Duration> drain = flags->GetDuration("drain-timeout", absl::Seconds(30));
  const char* bad = !port.ok() || *port < 0 || *port > 65535 ? "--port must be 0..65535"
                    : !body.ok() || *body < 0     ? "--max-body-bytes must be a byte count"
                    : !threads.ok() || *threads < 1 || *threads > 64 ? "--threads must be 1..64"
                    : !drain.ok() || *drain < absl::ZeroDuration()
                        ? "--drain-timeout must be a duration (e.g. 30s)"
                        : nullptr;
  if (bad != nullptr) {
    std::fprintf(stderr, "fnhost serve: %s\n", bad);
    return 2;
  }
  out->config_path = flags->Get("config", DefaultConfig());
  if (out->config_path.empty()) {
    std::fprintf(stderr, "fnhost serve: no --config given and no examples config found\n");
    return 2;
  }
  out->http.host = flags->Get("host", "127.0.0.1");
  out->http.port = static_cast<int>(*port);
  out->http.max_body_bytes = static_cast<uint64_t>(*body);
  out->http.threads = static_cast<int>(*threads);
  out->drain_timeout = *drain;
  out->snapshot_dir = flags->Get("snapshot-dir", "");
  out->watch = flags->Has("watch");
  out->metadata_prefix = flags->Get("metadata-prefix", "x-fn-");
  return 0;
}

// Serves `host` until SIGTERM or SIGINT (blocked in every thread: `stop_signals`), then
// drains. The exit code.
int Serve(Host& host, MetricsAggregator& metrics, const HostConfig& config,
          const ServeFlags& flags, ModuleWatcher& watcher, const sigset_t& stop_signals) {
  std::vector<std::pair<std::string, int>> functions;
  for (const FunctionSpec& spec : config.functions) {
    functions.emplace_back(spec.name, spec.pool.min_instances);
  }
  HttpServer server;
  absl::StatusOr<int> port = server.Listen(flags.http);
  if (!port.ok()) {
    std::fprintf(stderr, "fnhost serve: %s\n", std::string(port.status().message()).c_str());
    return 1;
  }
  ServeRouter router(host, metrics, functions, server, flags.metadata_prefix);
  Stopper stopper;
  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::fprintf(stderr, "fnhost serve: %s: draining (up to %s)\n",
                 signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
                 absl::FormatDuration(flags.drain_timeout).c_str());
    {
      std::lock_guard<std::mutex> lock(stopper.mu);
      stopper.stopping = true;
    }
    stopper.cv.notify_all();
    server.Drain(absl::ToChronoMilliseconds(flags.drain_timeout));
  });
  std::thread watch_thread;
  if (flags.watch) watch_thread = WatchModules(host, watcher, stopper);
  std::fprintf(stderr, "fnhost serve: listening on http://%s:%d (config %s)\n",
               flags.http.host.c_str(), *port, flags.config_path.c_str());
  std::fflush(stderr);
  const bool drained = server.Run(router);
  signal_thread.join();
  if (watch_thread.joinable()) watch_thread.join();
  if (!drained) {
    // Calls still in flight past --drain-timeout are abandoned: exit now, without waiting
    // for them as the host's destructor would.
    std::fprintf(stderr, "fnhost serve: drain timed out; exiting with calls in flight\n");
    std::fflush(nullptr);
    std::_Exit(0);
  }
  std::fprintf(stderr, "fnhost serve: drained\n");
  return 0;
}

}  // namespace

int ServeCommand(int argc, char** argv) {
  if (HelpRequested(argc, argv, 2)) return ShowHelp(kUsage);
  ServeFlags flags;
  if (int code = ParseServeFlags(argc, argv, &flags); code != 0) return code;
  absl::StatusOr<HostConfig> config = LoadHostConfig(flags.config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "fnhost serve: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }

  // SIGINT/SIGTERM drain the server: a thread waits for them, so no handler runs inside
  // arbitrary code. Blocked before the host starts its threads, which inherit the mask: a
  // signal delivered to a thread that does not block it would kill the process.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  MetricsAggregator metrics;
  HostOptions options;
  options.metrics_sink = &metrics;
  options.allow_writable_modules = config->allow_writable_modules;
  options.memory_budget_mb = config->memory_budget_mb;
  options.snapshot_dir = flags.snapshot_dir.empty() ? config->snapshot_dir : flags.snapshot_dir;
  absl::StatusOr<std::unique_ptr<Host>> host = Host::Create(options);
  if (!host.ok()) {
    std::fprintf(stderr, "fnhost serve: %s\n", std::string(host.status().message()).c_str());
    return 1;
  }
  ModuleWatcher watcher(FileSystem::Default());
  if (!RegisterFunctions(**host, *config, flags.config_path, watcher)) return 1;
  return Serve(**host, metrics, *config, flags, watcher, stop_signals);
}

}  // namespace fnhost::cli
