// Helpers for the tests that run processes: what this process holds (descriptors, child
// processes), so that a test can check that nothing leaked, and a bounded wait for a child.

#ifndef FNHOST_TESTS_SUPPORT_PROCESS_UTIL_H_
#define FNHOST_TESTS_SUPPORT_PROCESS_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/support/test_util.h"

namespace fnhost::testing {

// Sanitizer runtimes reserve terabytes of address space: an RLIMIT_AS memory limit cannot work.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

inline int CountOpenFds() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  while (::readdir(dir) != nullptr) ++count;
  ::closedir(dir);
  return count;
}

// Processes whose parent is this process, zombies included.
inline std::vector<pid_t> ChildrenOfThisProcess() {
  std::vector<pid_t> children;
  DIR* dir = ::opendir("/proc");
  while (dirent* entry = ::readdir(dir)) {
    pid_t pid;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    // Plain read(2): a process may vanish while it is read (ESRCH).
    int fd = ::open(absl::StrCat("/proc/", pid, "/stat").c_str(), O_RDONLY);
    if (fd < 0) continue;
    char stat[512];
    ssize_t size = ::read(fd, stat, sizeof(stat) - 1);
    ::close(fd);
    if (size <= 0) continue;
    stat[size] = '\0';
    const char* end_of_name = std::strrchr(stat, ')');
    char state;
    pid_t parent = 0;
    if (end_of_name != nullptr && std::sscanf(end_of_name + 1, " %c %d", &state, &parent) == 2 &&
        parent == ::getpid()) {
      children.push_back(pid);
    }
  }
  ::closedir(dir);
  return children;
}

// Waits for child `pid` to exit, at most kWaitBound, and reaps it into *wait_status. False if
// it had to be killed (SIGKILL) at the bound: a hung command fails its test instead of hanging
// it. Without pidfd_open (Linux before 5.3) the wait is not bounded.
[[nodiscard]] inline bool ReapChild(pid_t pid, int* wait_status) {
  bool exited = true;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    pollfd readable{.fd = pidfd, .events = POLLIN, .revents = 0};
    const int timeout_ms = static_cast<int>(kWaitBound.count() * 1000);
    int ready;
    while ((ready = ::poll(&readable, 1, timeout_ms)) < 0 && errno == EINTR) {
    }
    exited = ready == 1;
    ::close(pidfd);
  }
  if (!exited) ::kill(pid, SIGKILL);
  while (::waitpid(pid, wait_status, 0) < 0 && errno == EINTR) {
  }
  return exited;
}

inline bool ProcessExists(pid_t pid) {
  return ::access(absl::StrCat("/proc/", pid).c_str(), F_OK) == 0;
}

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_PROCESS_UTIL_H_
