// Embedding fnhost in a server of your own: create a Host, register functions, look each up
// once, and call it through the handle on your request path.
//
//   fnhost_embed_example path/to/hello.so
#include <cstdio>
#include <string>

#include "fnhost/host.h"
#include "fnhost/metrics.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODULE.so\n", argv[0]);
    return 2;
  }
  fnhost::MetricsAggregator metrics;  // or your own fnhost::MetricsSink
  fnhost::HostOptions options;
  options.metrics_sink = &metrics;
  absl::StatusOr<std::unique_ptr<fnhost::Host>> host = fnhost::Host::Create(options);
  if (!host.ok()) {
    std::fprintf(stderr, "%s\n", std::string(host.status().message()).c_str());
    return 1;
  }

  fnhost::FunctionSpec spec;
  spec.name = "greet";
  spec.module_path = argv[1];
  spec.pool.max_instances = 4;
  if (absl::Status status = (*host)->Register(spec); !status.ok()) {
    std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
    return 1;
  }

  // On the request path: one handle per function, one response buffer per thread.
  absl::StatusOr<fnhost::FunctionHandle> greet = (*host)->Lookup("greet");
  std::string response;
  for (const char* who : {"ada", "grace", "barbara"}) {
    absl::Status status = (*host)->Invoke(*greet, who, &response);
    std::printf("%s\n", status.ok() ? response.c_str() : std::string(status.message()).c_str());
  }
  std::fputs(metrics.RenderPrometheus().c_str(), stdout);
  return 0;
}
