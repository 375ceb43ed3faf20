// What the sandbox tests offer an escape to aim at, so that each test can tell whether the
// escape's effect happened: a random secret, a TCP listener that knows whether anything
// connected, and the count of a process's children.

#ifndef FNHOST_TESTS_SUPPORT_ESCAPE_TARGETS_H_
#define FNHOST_TESTS_SUPPORT_ESCAPE_TARGETS_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/string_view.h"

namespace fnhost::testing {

// `prefix` and 24 random hex digits: text that can only come from where the test put it.
inline std::string RandomSecret(const char* prefix) {
  char bytes[12];
  if (::getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes)) return prefix;
  return prefix + absl::BytesToHexString(absl::string_view(bytes, sizeof(bytes)));
}

// A TCP listener on 127.0.0.1 that can tell whether anything connected.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof(address);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), size);
    ::listen(fd_, 16);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~Listener() { ::close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  std::string port() const { return std::to_string(port_); }
  // A finished handshake waits in the queue even after the client is gone.
  bool SawConnection() {
    int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return false;
    ::close(client);
    return true;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// The children of process `pid` (of every thread of it), as /proc lists them.
inline int CountChildren(pid_t pid) {
  int count = 0;
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child; in >> child;) ++count;
  }
  return count;
}

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_ESCAPE_TARGETS_H_
