// HttpServer: the event loop of `fnhost serve`, Boost.Beast over Asio. A few threads run one
// io_context; each connection lives on its own strand, reads one request at a time (keep-alive,
// TCP_NODELAY), and hands it to the Router, which answers now or later (an asynchronous call's
// completion, posted back to the connection's strand): no connection holds a thread while its
// call waits or runs. A body above the limit is refused with 413 as soon as its size is known
// (Content-Length) or passed (chunked), without being buffered whole, and the connection
// closes. Drain stops accepting, closes idle connections, answers the requests in flight with
// `Connection: close`, and Run returns once every connection is gone or the drain timeout
// passed.
//
// Thread-safety: Listen, then Run on one thread; Drain and draining from any thread.

#ifndef FNHOST_SRC_CLI_HTTP_SERVER_H_
#define FNHOST_SRC_CLI_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/executor.h"

namespace fnhost::cli {

// One request as the router sees it, and its answer.
struct HttpExchange {
  std::string method;
  std::string target;
  std::string body;
  // The request's headers, names as the client sent them; they view the request, valid until
  // the reply. Reused from request to request on one connection.
  std::vector<std::pair<std::string_view, std::string_view>> headers;

  int status = 200;
  std::string content_type = "text/plain";
  std::string response;  // reused from request to request on one connection
  std::vector<std::pair<std::string, std::string>> response_headers;  // besides content type
};

class HttpRouter {
 public:
  virtual ~HttpRouter() = default;
  // Answers `exchange`: fills its status, content type and response, then runs `reply`, once,
  // now or later. `strand` runs tasks on the connection's strand, for completions that must
  // come back to it. `exchange` stays valid until `reply` runs.
  virtual void Route(HttpExchange& exchange, Executor& strand,
                     absl::AnyInvocable<void()> reply) = 0;
};

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 8080;  // 0: any free port
    int threads = 2;
    uint64_t max_body_bytes = 16 << 20;
    std::chrono::seconds idle_timeout{60};  // a keep-alive connection with no request
  };

  HttpServer();
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; returns the port.
  absl::StatusOr<int> Listen(const Options& options);
  // Serves, routing every request to `router`, until a drain is over: true when every
  // connection finished, false when the drain timed out with requests in flight.
  bool Run(HttpRouter& router);
  // Stops accepting and lets the requests in flight finish, for at most `timeout`.
  void Drain(std::chrono::milliseconds timeout);
  bool draining() const { return draining_.load(std::memory_order_acquire); }

  // The loop, the acceptor and the connections (http_server.cc).
  struct State;

 private:
  std::unique_ptr<State> state_;
  std::atomic<bool> draining_{false};
};

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_HTTP_SERVER_H_
