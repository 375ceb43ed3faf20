// `fnhost serve`: the Host behind an HTTP server (cpp-httplib).
//   POST /invoke/NAME   body = request, response body = the function's response
//   GET  /metrics       Prometheus text exposition
//   GET  /healthz       "ok"
#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "fnhost/host.h"
#include "fnhost/metrics.h"
#include "src/cli/commands.h"
#include "src/cli/flags.h"
#include "src/cli/module_watcher.h"
#include "src/config/config_loader.h"

namespace fnhost::cli {

// Overload, 429: the function had no instance for the call, because its queue was full
// (RESOURCE_EXHAUSTED) or because the call's deadline passed while it waited in the queue;
// either way the client should back off and retry. A call that ran past its deadline is 504.
int HttpStatusFor(const absl::Status& status) {
  if (!RejectionReason(status).empty()) return 429;
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

namespace {

constexpr char kUsage[] =
    "usage: fnhost serve [--config=FILE] [--port=8080] [--host=127.0.0.1] [--watch] "
    "[--snapshot-dir=DIR]\n";

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

void AddRoutes(httplib::Server& server, Host& host, MetricsAggregator& metrics) {
  server.Post(R"(/invoke/([A-Za-z0-9_.\-]+))",
              [&host](const httplib::Request& request, httplib::Response& response) {
                absl::StatusOr<std::string> reply = host.Invoke(request.matches[1].str(),
                                                                request.body);
                if (reply.ok()) {
                  response.set_content(*std::move(reply), "application/octet-stream");
                  return;
                }
                response.status = HttpStatusFor(reply.status());
                response.set_content(std::string(reply.status().message()) + "\n",
                                     "text/plain");
              });
  server.Get("/metrics", [&host, &metrics](const httplib::Request&, httplib::Response& response) {
    host.PublishGauges();
    response.set_content(metrics.RenderPrometheus(), "text/plain; version=0.0.4");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok\n", "text/plain");
  });
}

// How the server stops: a thread waits for SIGINT or SIGTERM (blocked in every thread), then
// stops the HTTP server and wakes the module watcher.
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

// Serves until a stop signal; reports a port it cannot listen on.
void Listen(httplib::Server& server, const std::string& bind, int64_t port,
            const std::string& config_path) {
  int bound = port == 0 ? server.bind_to_any_port(bind) : static_cast<int>(port);
  if ((port == 0 && bound < 0) || (port != 0 && !server.bind_to_port(bind, bound))) {
    std::fprintf(stderr, "fnhost serve: cannot listen on %s:%lld\n", bind.c_str(),
                 static_cast<long long>(port));
    kill(getpid(), SIGTERM);  // wake the signal thread
    return;
  }
  std::fprintf(stderr, "fnhost serve: listening on http://%s:%d (config %s)\n", bind.c_str(),
               bound, config_path.c_str());
  std::fflush(stderr);
  server.listen_after_bind();
}

}  // namespace

int ServeCommand(int argc, char** argv) {
  if (HelpRequested(argc, argv, 2)) return ShowHelp(kUsage);
  absl::StatusOr<Flags> flags =
      Flags::Parse(argc, argv, 2, {"config", "port", "host", "snapshot-dir"}, {"watch"});
  if (!flags.ok() || !flags->positional().empty()) {
    std::fprintf(stderr, "fnhost serve: %s\n%s",
                 flags.ok() ? "unexpected argument" : std::string(flags.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  absl::StatusOr<int64_t> port = flags->GetInt("port", 8080);
  if (!port.ok() || *port < 0 || *port > 65535) {
    std::fprintf(stderr, "fnhost serve: --port must be 0..65535\n");
    return 2;
  }
  std::string config_path = flags->Get("config", DefaultConfig());
  if (config_path.empty()) {
    std::fprintf(stderr, "fnhost serve: no --config given and no examples config found\n");
    return 2;
  }
  absl::StatusOr<HostConfig> config = LoadHostConfig(config_path);
  if (!config.ok()) {
    std::fprintf(stderr, "fnhost serve: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }

  // SIGINT/SIGTERM stop the server cleanly: a thread waits for them, so no handler runs
  // inside arbitrary code. Blocked before the host starts its threads, which inherit the mask:
  // a signal delivered to a thread that does not block it would kill the process.
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
  options.snapshot_dir = flags->Get("snapshot-dir", config->snapshot_dir);
  absl::StatusOr<std::unique_ptr<Host>> created = Host::Create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "fnhost serve: %s\n", std::string(created.status().message()).c_str());
    return 1;
  }
  Host& host = **created;
  ModuleWatcher watcher(FileSystem::Default());
  if (!RegisterFunctions(host, *config, config_path, watcher)) return 1;

  httplib::Server server;
  AddRoutes(server, host, metrics);
  Stopper stopper;
  std::thread signal_thread([&] {
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    {
      std::lock_guard<std::mutex> lock(stopper.mu);
      stopper.stopping = true;
    }
    stopper.cv.notify_all();
    server.stop();
  });
  std::thread watch_thread;
  if (flags->Has("watch")) watch_thread = WatchModules(host, watcher, stopper);
  Listen(server, flags->Get("host", "127.0.0.1"), *port, config_path);
  signal_thread.join();
  if (watch_thread.joinable()) watch_thread.join();
  return 0;
}

}  // namespace fnhost::cli
