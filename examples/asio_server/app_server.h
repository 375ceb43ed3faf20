// AppServer: an HTTP server in the usual Asio style (Boost.Beast, one io_context, callbacks)
// that serves routes of its own and hands POST /fn/NAME to fnhost. The call goes out with
// Host::InvokeAsync and its completion comes back to the server's io_context through an
// fnhost::Executor that posts there, so the server's own code never runs on another thread and
// no thread waits for a call.
//
//   GET  /status     the server's own route: "up, N calls served by fnhost"
//   POST /fn/NAME    the function NAME's response (404 unknown, 429 overloaded, 500 error)
//
// Thread-safety: everything runs on the io_context's thread (run it from one thread).

#ifndef FNHOST_EXAMPLES_ASIO_SERVER_APP_SERVER_H_
#define FNHOST_EXAMPLES_ASIO_SERVER_APP_SERVER_H_

#include <cstdint>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "fnhost/executor.h"
#include "fnhost/host.h"

namespace app {

// fnhost's completions, posted to the io_context.
class IoContextExecutor final : public fnhost::Executor {
 public:
  explicit IoContextExecutor(boost::asio::io_context& io) : io_(io) {}
  void Post(absl::AnyInvocable<void()> task) override;

 private:
  boost::asio::io_context& io_;
};

class AppServer {
 public:
  AppServer(boost::asio::io_context& io, fnhost::Host& host);

  // Listens on 127.0.0.1:`port` (0: any free port) and starts accepting; returns the port.
  uint16_t Listen(uint16_t port);
  // Stops accepting; connections end after their current request.
  void Stop();

  int64_t calls_served() const { return calls_served_; }
  // Completions that ran off the io_context's thread: always 0, the point of the executor.
  int64_t completions_off_loop() const { return completions_off_loop_; }

 private:
  class Connection;
  void Accept();

  boost::asio::io_context& io_;
  fnhost::Host& host_;
  IoContextExecutor executor_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread::id loop_thread_;  // the io_context's, seen on the first request
  int64_t calls_served_ = 0;
  int64_t completions_off_loop_ = 0;
};

}  // namespace app

#endif  // FNHOST_EXAMPLES_ASIO_SERVER_APP_SERVER_H_
