// ServeRouter: the routes of `fnhost serve` over HttpServer.
//   POST /invoke/NAME   the function's response (Host::InvokeAsync: no thread waits for it);
//                       headers under the metadata prefix and traceparent map to and from
//                       the call's context (http_call_context.h)
//   GET  /metrics       Prometheus text
//   GET  /healthz       liveness: "ok" while the process serves
//   GET  /readyz        readiness: 200 once every function has its min_instances warm, 503
//                       before that and while draining
// Status mapping (HttpStatusFor): 404 unknown function, 400 bad request, 429 overloaded (no
// instance for the call: queue full, or its deadline passed in the queue), 403 permission
// denied (a sandbox denial the module reported), 504 deadline exceeded (the sandbox's CPU
// limit too), 503 unavailable, 500 module error (a call past the sandbox's memory limit too).
//
// Thread-safety: Route runs on the connections' strands, concurrently.

#ifndef FNHOST_SRC_CLI_SERVE_ROUTER_H_
#define FNHOST_SRC_CLI_SERVE_ROUTER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "fnhost/host.h"
#include "fnhost/metrics.h"
#include "src/cli/http_server.h"

namespace fnhost::cli {

// The HTTP status of a call's outcome.
int HttpStatusFor(const absl::Status& status);

class ServeRouter final : public HttpRouter {
 public:
  // `functions`: the registered functions with their min_instances; `metadata_prefix`: the
  // header names that carry call metadata (e.g. "x-fn-").
  ServeRouter(Host& host, MetricsAggregator& metrics,
              const std::vector<std::pair<std::string, int>>& functions,
              const HttpServer& server, std::string metadata_prefix);

  void Route(HttpExchange& exchange, Executor& strand,
             absl::AnyInvocable<void()> reply) override;

 private:
  void Invoke(std::string_view name, HttpExchange& exchange, Executor& strand,
              absl::AnyInvocable<void()> reply);
  // Empty when ready, else why not.
  std::string NotReady();

  Host& host_;
  MetricsAggregator& metrics_;
  const HttpServer& server_;
  const std::string metadata_prefix_;
  std::vector<std::pair<std::string, int>> min_instances_;
  absl::flat_hash_map<std::string, FunctionHandle> handles_;  // fixed after construction
};

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_SERVE_ROUTER_H_
