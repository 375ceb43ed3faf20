#include "src/cli/serve_router.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "fnhost/sandbox_options.h"
#include "src/cli/http_call_context.h"
#include "src/common/strings.h"

namespace fnhost::cli {

// Overload, 429: the function had no instance for the call, because its queue was full
// (RESOURCE_EXHAUSTED) or because the call's deadline passed while it waited in the queue;
// either way the client should back off and retry. A call that ran past its deadline is 504.
// A call past its sandbox's memory limit is RESOURCE_EXHAUSTED too, but a retry would only
// run out again: the function failed, 500.
int HttpStatusFor(const absl::Status& status) {
  if (!RejectionReason(status).empty()) return 429;
  if (SandboxLimitReason(status) == "memory") return 500;
  switch (status.code()) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kPermissionDenied: return 403;  // e.g. a sandbox denial
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    case absl::StatusCode::kUnavailable: return 503;
    default: return 500;
  }
}

ServeRouter::ServeRouter(Host& host, MetricsAggregator& metrics,
                         const std::vector<std::pair<std::string, int>>& functions,
                         const HttpServer& server, std::string metadata_prefix)
    : host_(host),
      metrics_(metrics),
      server_(server),
      metadata_prefix_(std::move(metadata_prefix)),
      min_instances_(functions) {
  for (const auto& [name, min_instances] : functions) {
    if (absl::StatusOr<FunctionHandle> handle = host.Lookup(name); handle.ok()) {
      handles_.emplace(name, *std::move(handle));
    }
  }
}

void ServeRouter::Route(HttpExchange& exchange, Executor& strand,
                        absl::AnyInvocable<void()> reply) {
  constexpr std::string_view kInvoke = "/invoke/";
  std::string_view target = exchange.target;
  target = target.substr(0, target.find('?'));
  exchange.content_type = "text/plain";
  if (target.substr(0, kInvoke.size()) == kInvoke) {
    if (exchange.method != "POST") {
      exchange.status = 405;
      exchange.response = "use POST\n";
    } else {
      return Invoke(target.substr(kInvoke.size()), exchange, strand, std::move(reply));
    }
  } else if (exchange.method == "GET" && target == "/metrics") {
    host_.PublishGauges();
    exchange.content_type = "text/plain; version=0.0.4";
    exchange.response = metrics_.RenderPrometheus();
  } else if (exchange.method == "GET" && target == "/healthz") {
    exchange.response = "ok\n";
  } else if (exchange.method == "GET" && target == "/readyz") {
    std::string not_ready = server_.draining() ? "draining\n" : NotReady();
    exchange.status = not_ready.empty() ? 200 : 503;
    exchange.response = not_ready.empty() ? "ready\n" : std::move(not_ready);
  } else {
    exchange.status = 404;
    exchange.response = "not found\n";
  }
  reply();
}

void ServeRouter::Invoke(std::string_view name, HttpExchange& exchange, Executor& strand,
                         absl::AnyInvocable<void()> reply) {
  auto it = handles_.find(AsAbsl(name));
  if (it == handles_.end()) {
    exchange.status = 404;
    exchange.response = absl::StrCat("no function named '", AsAbsl(name), "'\n");
    return reply();
  }
  // Owned by the completion, which runs after the call is over.
  auto call = std::make_unique<HttpCallContext>(metadata_prefix_, exchange.headers);
  CallOptions options;
  options.executor = &strand;
  options.context = call->context();
  host_.InvokeAsync(
      it->second, exchange.body, &exchange.response,
      [&exchange, call = std::move(call), reply = std::move(reply)](
          absl::Status status, std::string* response) mutable {
        if (status.ok()) {
          exchange.content_type = "application/octet-stream";
        } else {
          exchange.status = HttpStatusFor(status);
          *response = absl::StrCat(status.message(), "\n");
        }
        call->AppendResponseHeaders(&exchange.response_headers);
        reply();
      },
      options);
}

std::string ServeRouter::NotReady() {
  std::string not_ready;
  const std::vector<FunctionStatus> functions = host_.ListFunctions();
  for (const auto& [name, min_instances] : min_instances_) {
    for (const FunctionStatus& function : functions) {
      const int warm = function.idle_instances + function.busy_instances;
      if (function.name == name && warm < min_instances) {
        absl::StrAppend(&not_ready, "warming ", name, ": ", warm, " of ", min_instances,
                        " instances\n");
      }
    }
  }
  return not_ready;
}

}  // namespace fnhost::cli
