#include "src/cli/http_server.h"

#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace fnhost::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

class Session;

// Runs fnhost's completions on one connection's strand.
class StrandExecutor final : public Executor {
 public:
  explicit StrandExecutor(asio::any_io_executor strand) : strand_(std::move(strand)) {}
  void Post(absl::AnyInvocable<void()> task) override { asio::post(strand_, std::move(task)); }

 private:
  asio::any_io_executor strand_;
};

}  // namespace

struct HttpServer::State {
  explicit State(std::atomic<bool>& draining)
      : draining(draining), acceptor(io), drain_timer(io) {}

  void Accept();
  // The drain, on the io_context: closes the acceptor and the idle connections.
  void StartDrain(std::chrono::milliseconds timeout);
  void Register(Session* session);
  void Unregister(Session* session);

  HttpRouter* router = nullptr;  // set by Run, before any connection
  std::atomic<bool>& draining;
  Options options;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::steady_timer drain_timer;
  std::mutex mu;
  std::set<Session*> sessions;  // guarded by mu
};

namespace {

// One connection: read a request, route it, write the answer, and again while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::State& server)
      : server_(server), stream_(std::move(socket)), strand_(stream_.get_executor()) {
    server_.Register(this);
  }
  ~Session() { server_.Unregister(this); }

  void Start() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
  }
  // Drain: a connection waiting for its next request closes now (on its strand).
  void CloseIfIdle() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->idle_) self->stream_.cancel();
    });
  }

 private:
  void Read() {
    if (server_.draining.load(std::memory_order_acquire)) return Close();
    parser_.emplace();
    parser_->body_limit(server_.options.max_body_bytes);
    idle_ = true;
    stream_.expires_after(server_.options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code error, size_t) {
                       self->OnRead(error);
                     });
  }

  void OnRead(beast::error_code error) {
    idle_ = false;
    if (error == http::error::body_limit) {
      return Answer(413, absl::StrCat("request body over --max-body-bytes (",
                                      server_.options.max_body_bytes, " bytes)\n"));
    }
    if (error == http::error::end_of_stream || error == asio::error::operation_aborted ||
        error == beast::error::timeout || error == asio::error::connection_reset ||
        error == asio::error::eof) {
      return Close();
    }
    if (error) return Answer(400, absl::StrCat("bad request: ", error.message(), "\n"));
    http::request<http::string_body>& request = parser_->get();
    keep_alive_ = request.keep_alive();
    exchange_.method = std::string(request.method_string());
    exchange_.target = std::string(request.target());
    exchange_.body.swap(request.body());
    exchange_.headers.clear();
    for (const auto& field : request) {
      exchange_.headers.emplace_back(std::string_view(field.name_string().data(),
                                                      field.name_string().size()),
                                     std::string_view(field.value().data(), field.value().size()));
    }
    exchange_.response_headers.clear();
    exchange_.status = 200;
    stream_.expires_never();  // the call may take as long as its function allows
    server_.router->Route(exchange_, strand_, [self = shared_from_this()] { self->Write(); });
  }

  // Answers without routing, and closes the connection after.
  void Answer(int status, std::string text) {
    keep_alive_ = false;
    exchange_.status = status;
    exchange_.content_type = "text/plain";
    exchange_.response = std::move(text);
    Write();
  }

  void Write() {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<unsigned>(exchange_.status));
    response_.set(http::field::content_type, exchange_.content_type);
    for (const auto& [name, value] : exchange_.response_headers) {
      response_.set(beast::string_view(name.data(), name.size()),
                    beast::string_view(value.data(), value.size()));
    }
    response_.keep_alive(keep_alive_ && !server_.draining.load(std::memory_order_acquire));
    response_.body().swap(exchange_.response);  // no copy; the capacity comes back below
    response_.prepare_payload();
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code error, size_t) {
                        self->exchange_.response.swap(self->response_.body());
                        if (error || !self->response_.keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  HttpServer::State& server_;
  beast::tcp_stream stream_;
  StrandExecutor strand_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  HttpExchange exchange_;
  bool keep_alive_ = false;
  bool idle_ = false;  // waiting for the next request (on the strand only)
};

}  // namespace

void HttpServer::State::Accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code error, tcp::socket socket) {
    if (error) {
      if (!draining.load(std::memory_order_acquire) && acceptor.is_open()) Accept();
      return;
    }
    socket.set_option(tcp::no_delay(true), error);
    std::make_shared<Session>(std::move(socket), *this)->Start();
    Accept();
  });
}

void HttpServer::State::Register(Session* session) {
  std::lock_guard<std::mutex> lock(mu);
  sessions.insert(session);
}

void HttpServer::State::Unregister(Session* session) {
  std::lock_guard<std::mutex> lock(mu);
  sessions.erase(session);
  // The last connection of a drain: nothing keeps the loop running but the drain's timer.
  if (sessions.empty() && draining.load(std::memory_order_acquire)) {
    asio::post(io, [this] { drain_timer.cancel(); });
  }
}

void HttpServer::State::StartDrain(std::chrono::milliseconds timeout) {
  beast::error_code ignored;
  acceptor.close(ignored);
  drain_timer.expires_after(timeout);
  drain_timer.async_wait([this](beast::error_code error) {
    if (!error) io.stop();  // the drain timed out: calls still in flight are abandoned
  });
  std::vector<std::shared_ptr<Session>> sessions_now;
  {
    std::lock_guard<std::mutex> lock(mu);
    for (Session* session : sessions) {
      if (std::shared_ptr<Session> alive = session->weak_from_this().lock()) {
        sessions_now.push_back(std::move(alive));
      }
    }
    if (sessions.empty()) drain_timer.cancel();
  }
  for (const std::shared_ptr<Session>& session : sessions_now) session->CloseIfIdle();
}

HttpServer::HttpServer() : state_(std::make_unique<State>(draining_)) {}

HttpServer::~HttpServer() = default;

absl::StatusOr<int> HttpServer::Listen(const Options& options) {
  state_->options = options;
  beast::error_code error;
  const asio::ip::address address = asio::ip::make_address(options.host, error);
  if (error) return absl::InvalidArgumentError(absl::StrCat("bad --host ", options.host));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  tcp::acceptor& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.host, ":",
                                               options.port, ": ", error.message()));
  }
  return acceptor.local_endpoint().port();
}

bool HttpServer::Run(HttpRouter& router) {
  state_->router = &router;
  state_->Accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < state_->options.threads; ++i) {
    threads.emplace_back([this] { state_->io.run(); });
  }
  state_->io.run();
  for (std::thread& thread : threads) thread.join();
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->sessions.empty();
}

void HttpServer::Drain(std::chrono::milliseconds timeout) {
  if (draining_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(state_->io, [this, timeout] { state_->StartDrain(timeout); });
}

}  // namespace fnhost::cli
