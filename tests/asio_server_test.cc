// examples/asio_server: an Asio server of one's own that hands /fn/NAME to fnhost through
// InvokeAsync. Concurrent keep-alive clients mix its own route with function calls; every
// answer is right, and every completion ran on the server's io_context thread.
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "examples/asio_server/app_server.h"
#include "fnhost/host.h"
#include "fnhost/testing.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

// One keep-alive connection; each Call sends a request and reads its answer.
class Client {
 public:
  explicit Client(uint16_t port) : stream_(io_) {
    stream_.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
  }
  // "STATUS BODY", or the error.
  std::string Call(http::verb verb, const std::string& target, const std::string& body) {
    http::request<http::string_body> request(verb, target, 11);
    request.set(http::field::host, "127.0.0.1");
    request.keep_alive(true);
    request.body() = body;
    request.prepare_payload();
    beast::error_code error;
    http::write(stream_, request, error);
    http::response<http::string_body> response;
    if (!error) http::read(stream_, buffer_, response, error);
    if (error) return "error " + error.message();
    return std::to_string(response.result_int()) + " " + response.body();
  }

 private:
  boost::asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

TEST(AsioServerExampleTest, ConcurrentKeepAliveClientsGetTheirAnswersOnTheLoop) {
  absl::StatusOr<std::unique_ptr<fnhost::Host>> host = fnhost::HostForTesting::Create();
  ASSERT_TRUE(host.ok()) << host.status();
  fnhost::FunctionSpec spec;
  spec.name = "greet";
  spec.module_path = fnhost::testing::TestModule("hello");
  spec.pool.max_instances = 2;
  ASSERT_TRUE((*host)->Register(spec).ok());

  boost::asio::io_context io;
  app::AppServer server(io, **host);
  const uint16_t port = server.Listen(0);
  std::thread loop([&io] { io.run(); });

  constexpr int kClients = 8;
  constexpr int kRequests = 50;
  std::vector<std::vector<std::string>> answers(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      Client client(port);
      for (int i = 0; i < kRequests; ++i) {
        const std::string who = "c" + std::to_string(c) + "r" + std::to_string(i);
        answers[c].push_back(client.Call(http::verb::post, "/fn/greet", who));
        if (i % 10 == 0) answers[c].push_back(client.Call(http::verb::get, "/status", ""));
      }
      answers[c].push_back(client.Call(http::verb::post, "/fn/nope", "x"));
    });
  }
  for (std::thread& client : clients) client.join();
  server.Stop();
  io.stop();
  loop.join();

  for (int c = 0; c < kClients; ++c) {
    int call = 0;
    for (const std::string& answer : answers[c]) {
      if (answer.rfind("200 up, ", 0) == 0) continue;  // the server's own route
      if (call == kRequests) {
        EXPECT_EQ(answer.substr(0, 4), "404 ") << answer;
        continue;
      }
      EXPECT_EQ(answer, "200 hello, c" + std::to_string(c) + "r" + std::to_string(call));
      ++call;
    }
    EXPECT_EQ(call, kRequests);
  }
  EXPECT_EQ(server.calls_served(), kClients * kRequests);
  EXPECT_EQ(server.completions_off_loop(), 0);
}

}  // namespace
