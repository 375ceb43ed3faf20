// An Asio server of one's own that hands /fn/NAME to fnhost (app_server.h).
//
//   fnhost_asio_server_example PORT NAME=MODULE.so...
//   curl localhost:PORT/status; curl -d world localhost:PORT/fn/NAME
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/asio/signal_set.hpp>

#include "examples/asio_server/app_server.h"
#include "fnhost/host.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s PORT NAME=MODULE.so...\n", argv[0]);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<fnhost::Host>> host = fnhost::Host::Create();
  if (!host.ok()) {
    std::fprintf(stderr, "%s\n", std::string(host.status().message()).c_str());
    return 1;
  }
  for (int i = 2; i < argc; ++i) {
    const std::string argument = argv[i];
    fnhost::FunctionSpec spec;
    spec.name = argument.substr(0, argument.find('='));
    spec.module_path = argument.substr(argument.find('=') + 1);
    if (absl::Status status = (*host)->Register(spec); !status.ok()) {
      std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
      return 1;
    }
  }
  boost::asio::io_context io;
  app::AppServer server(io, **host);
  const uint16_t port = server.Listen(static_cast<uint16_t>(std::atoi(argv[1])));
  std::fprintf(stderr, "listening on http://127.0.0.1:%u\n", port);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) {
    server.Stop();
    io.stop();
  });
  io.run();
  return 0;
}
