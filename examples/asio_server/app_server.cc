#include "examples/asio_server/app_server.h"

#include <memory>
#include <string>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace app {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

void IoContextExecutor::Post(absl::AnyInvocable<void()> task) {
  boost::asio::post(io_, std::move(task));
}

// One keep-alive connection: read a request, answer it (maybe later), read the next.
class AppServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, AppServer& server)
      : socket_(std::move(socket)), server_(server) {}

  void Read() {
    request_ = {};
    http::async_read(socket_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       if (!error) self->Handle();
                     });
  }

 private:
  void Handle() {
    server_.loop_thread_ = std::this_thread::get_id();
    const std::string target(request_.target());
    if (request_.method() == http::verb::get && target == "/status") {
      return Reply(200, "up, " + std::to_string(server_.calls_served_) +
                            " calls served by fnhost\n");
    }
    if (request_.method() == http::verb::post && target.rfind("/fn/", 0) == 0) {
      return CallFunction(target.substr(4));
    }
    Reply(404, "no route\n");
  }

  void CallFunction(const std::string& name) {
    absl::StatusOr<fnhost::FunctionHandle> function = server_.host_.Lookup(name);
    if (!function.ok()) return Reply(404, std::string(function.status().message()) + "\n");
    fnhost::CallOptions options;
    options.executor = &server_.executor_;
    // request_.body() and response_ belong to this connection, which the completion keeps
    // alive: both stay valid until it runs.
    server_.host_.InvokeAsync(
        *function, request_.body(), &response_,
        [self = shared_from_this()](absl::Status status, std::string* response) {
          AppServer& server = self->server_;
          if (std::this_thread::get_id() != server.loop_thread_) ++server.completions_off_loop_;
          if (!status.ok()) {
            const int code = !fnhost::RejectionReason(status).empty()        ? 429
                             : status.code() == absl::StatusCode::kNotFound ? 404
                                                                              : 500;
            return self->Reply(code, std::string(status.message()) + "\n");
          }
          ++server.calls_served_;
          self->Reply(200, std::move(*response));
        },
        options);
  }

  void Reply(int status, std::string body) {
    reply_ = {};
    reply_.version(request_.version());
    reply_.result(static_cast<unsigned>(status));
    reply_.set(http::field::content_type, "text/plain");
    reply_.keep_alive(request_.keep_alive());
    reply_.body() = std::move(body);
    reply_.prepare_payload();
    http::async_write(socket_, reply_,
                      [self = shared_from_this()](beast::error_code error, size_t) {
                        if (!error && self->reply_.keep_alive()) self->Read();
                      });
  }

  tcp::socket socket_;
  AppServer& server_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> request_;
  http::response<http::string_body> reply_;
  std::string response_;  // fnhost writes the function's response here
};

AppServer::AppServer(boost::asio::io_context& io, fnhost::Host& host)
    : io_(io), host_(host), executor_(io), acceptor_(io) {}

uint16_t AppServer::Listen(uint16_t port) {
  const tcp::endpoint endpoint(boost::asio::ip::make_address("127.0.0.1"), port);
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(boost::asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen();
  Accept();
  return acceptor_.local_endpoint().port();
}

void AppServer::Stop() {
  boost::asio::post(io_, [this] { acceptor_.close(); });
}

void AppServer::Accept() {
  acceptor_.async_accept([this](beast::error_code error, tcp::socket socket) {
    if (error) return;  // closed by Stop
    socket.set_option(tcp::no_delay(true));
    std::make_shared<Connection>(std::move(socket), *this)->Read();
    Accept();
  });
}

}  // namespace app
