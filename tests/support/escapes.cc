#include "tests/support/escapes.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <thread>

namespace fnhost::testing {
namespace {

// Thrown by Args::Number; RunEscape turns it into an ESCAPE-ERROR line.
struct BadArgument {
  std::string why;
};

struct Args {
  const std::vector<std::string>& values;
  const std::string& Text(size_t i) const {
    if (i >= values.size()) throw BadArgument{"argument " + std::to_string(i + 1) + " is missing"};
    return values[i];
  }
  uint64_t Number(size_t i) const {
    const std::string& text = Text(i);
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0) {
      throw BadArgument{"argument " + std::to_string(i + 1) + " must be a number"};
    }
    return value;
  }
};

// The write end that "fork-bomb N hold" children wait on, until "release".
int held_children = -1;

void ReadFile(const Args& args, EscapeOutput& out) {
  int fd = ::open(args.Text(0).c_str(), O_RDONLY | O_CLOEXEC);
  char buffer[256] = {};
  ssize_t n = fd >= 0 ? ::read(fd, buffer, sizeof(buffer) - 1) : -1;
  if (n < 0) return out.Error(errno);
  ::close(fd);
  out.Line("READ " + std::string(buffer, static_cast<size_t>(n)));
}

void ReadFileSignalsBlocked(const Args& args, EscapeOutput& out) {
  std::thread reader([&] {
    sigset_t all;
    sigfillset(&all);
    ::pthread_sigmask(SIG_BLOCK, &all, nullptr);
    ReadFile(args, out);
  });
  reader.join();
}

void WriteFile(const Args& args, EscapeOutput& out) {
  int fd = ::open(args.Text(0).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ::write(fd, "pwned", 5) != 5) return out.Error(errno);
  ::close(fd);
  out.Line("WROTE");
}

void Connect(const Args& args, EscapeOutput& out) {
  const uint64_t port = args.Number(0);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out.Error(errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  const int error = errno;
  ::close(fd);
  if (connected != 0) return out.Error(error);
  out.Line("CONNECTED");
}

// Forks up to `limit` children, each waiting on a pipe; prints how many forks succeeded. The
// children go when the pipe's write end closes: at once, or with `hold` at "release".
void ForkBomb(uint64_t limit, bool hold, EscapeOutput& out) {
  int release[2];
  if (::pipe2(release, O_CLOEXEC) != 0) return out.Error(errno);
  uint64_t forks = 0;
  int first_error = 0;
  for (uint64_t i = 0; i < limit; ++i) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(release[1]);
      char byte;
      ::_exit(::read(release[0], &byte, 1) < 0 ? 1 : 0);
    }
    if (pid < 0 && first_error == 0) first_error = errno;
    if (pid > 0) ++forks;
  }
  ::close(release[0]);
  if (hold) {
    held_children = release[1];
  } else {
    ::close(release[1]);
    while (::wait(nullptr) > 0 || errno == EINTR) {
    }
  }
  if (first_error != 0) out.Error(first_error);
  out.Line("FORKS " + std::to_string(forks));
}

void Release(EscapeOutput& out) {
  if (held_children >= 0) ::close(held_children);
  held_children = -1;
  int reaped = 0;
  while (::wait(nullptr) > 0 || errno == EINTR) ++reaped;
  out.Line("RELEASED " + std::to_string(reaped));
}

void ReadOtherProcess(const Args& args, bool through_proc, EscapeOutput& out) {
  const pid_t pid = static_cast<pid_t>(args.Number(0));
  const uint64_t address = args.Number(1);
  const uint64_t length = std::min<uint64_t>(args.Number(2), 256);
  std::string buffer(length, '\0');
  ssize_t n;
  if (through_proc) {
    int fd = ::open(("/proc/" + std::to_string(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
    n = fd >= 0 ? ::pread(fd, buffer.data(), length, static_cast<off_t>(address)) : -1;
    if (fd >= 0) ::close(fd);
  } else {
    iovec local{buffer.data(), length};
    iovec remote{reinterpret_cast<void*>(address), length};
    n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  }
  if (n < 0) return out.Error(errno);
  buffer.resize(static_cast<size_t>(n));
  out.Line("READ " + buffer);
}

void Ptrace(pid_t pid, EscapeOutput& out) {
  if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) return out.Error(errno);
  ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
  out.Line("TRACED");
}

void RaiseRlimits(EscapeOutput& out) {
  rlimit nofile;
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  rlimit raised{nofile.rlim_max, nofile.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) out.Error(errno);
  rlimit core{RLIM_INFINITY, RLIM_INFINITY};
  if (::prlimit(0, RLIMIT_CORE, &core, nullptr) != 0) out.Error(errno);
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  ::getrlimit(RLIMIT_CORE, &core);
  out.Line("NOFILE " + std::to_string(nofile.rlim_cur));
  out.Line("CORE " + (core.rlim_max == RLIM_INFINITY ? std::string("unlimited")
                                                      : std::to_string(core.rlim_max)));
}

int64_t ProcessCpuMicros() {
  timespec now;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

void BurnCpu(uint64_t milliseconds, EscapeOutput& out) {
  const int64_t start = ProcessCpuMicros();
  int64_t used = 0;
  while (used < static_cast<int64_t>(milliseconds) * 1000) used = ProcessCpuMicros() - start;
  out.Line("BURNED " + std::to_string(used));
}

// Maps and touches 1 MiB at a time (mmap, not malloc: a sanitizer's allocator would abort).
void Allocate(uint64_t mebibytes, EscapeOutput& out) {
  for (uint64_t i = 1; i <= mebibytes; ++i) {
    void* chunk = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
    if (chunk == MAP_FAILED) {
      out.Line("ALLOC-FAILED");
      return out.Error(errno);
    }
    std::memset(chunk, 0x5a, 1 << 20);
    out.Line("ALLOCATED " + std::to_string(i));
  }
}

void Threads(uint64_t count, EscapeOutput& out) {
  std::vector<std::thread> threads;
  std::atomic<uint64_t> ran{0};
  for (uint64_t i = 0; i < count; ++i) threads.emplace_back([&ran] { ++ran; });
  for (std::thread& thread : threads) thread.join();
  out.Line("THREADS " + std::to_string(ran.load()));
}

// What a worker could use that it did not open: "FD <n> <target>" for each descriptor.
void ListDescriptors(EscapeOutput& out) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return out.Error(errno);
  const int own = ::dirfd(dir);
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == own) continue;
    char target[512];
    const std::string link = std::string("/proc/self/fd/") + entry->d_name;
    ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n < 0) n = 0;
    target[n] = '\0';
    out.Line(std::string("FD ") + entry->d_name + " " + target);
  }
  ::closedir(dir);
}

void ReplaceSigsys(EscapeOutput& out) {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  if (::sigaction(SIGSYS, &ignore, nullptr) != 0) return out.Error(errno);
  out.Line("REPLACED");
}

using Escape = std::function<void(const Args&, EscapeOutput&)>;

const std::map<std::string, Escape>& Escapes() {
  static const auto* const escapes = new std::map<std::string, Escape>{
      {"none", [](const Args&, EscapeOutput& out) { out.Line("OK"); }},
      {"pid", [](const Args&, EscapeOutput& out) { out.Line("PID " + std::to_string(::getpid())); }},
      {"read-file", ReadFile},
      {"read-file-signals-blocked", ReadFileSignalsBlocked},
      {"write-file", WriteFile},
      {"connect", Connect},
      {"fork",
       [](const Args&, EscapeOutput& out) {
         pid_t pid = ::fork();
         if (pid == 0) ::_exit(0);
         if (pid < 0) return out.Error(errno);
         ::waitpid(pid, nullptr, 0);
         out.Line("FORKED");
       }},
      {"fork-bomb",
       [](const Args& args, EscapeOutput& out) {
         const bool hold = args.values.size() > 1 && args.values[1] == "hold";
         ForkBomb(std::min<uint64_t>(args.Number(0), 64), hold, out);
       }},
      {"release", [](const Args&, EscapeOutput& out) { Release(out); }},
      {"exec-shell",  // with a path, the shell writes SHELL-RAN there, else to stdout
       [](const Args& args, EscapeOutput& out) {
         const std::string to = args.values.empty() ? "/dev/stdout" : args.values[0];
         ::execl("/bin/sh", "sh", "-c", "echo SHELL-RAN > \"$0\"", to.c_str(),
                 static_cast<char*>(nullptr));
         out.Error(errno);
       }},
      {"ptrace",
       [](const Args& args, EscapeOutput& out) { Ptrace(static_cast<pid_t>(args.Number(0)), out); }},
      {"ptrace-parent", [](const Args&, EscapeOutput& out) { Ptrace(::getppid(), out); }},
      {"proc-mem", [](const Args& args, EscapeOutput& out) { ReadOtherProcess(args, true, out); }},
      {"vm-read", [](const Args& args, EscapeOutput& out) { ReadOtherProcess(args, false, out); }},
      {"raise-rlimit", [](const Args&, EscapeOutput& out) { RaiseRlimits(out); }},
      {"burn-cpu", [](const Args& args, EscapeOutput& out) { BurnCpu(args.Number(0), out); }},
      {"sleep",
       [](const Args& args, EscapeOutput& out) {
         ::usleep(static_cast<useconds_t>(args.Number(0) * 1000));
         out.Line("SLEPT");
       }},
      {"allocate", [](const Args& args, EscapeOutput& out) { Allocate(args.Number(0), out); }},
      {"threads",
       [](const Args& args, EscapeOutput& out) {
         Threads(std::min<uint64_t>(args.Number(0), 16), out);
       }},
      {"signal",
       [](const Args& args, EscapeOutput& out) {
         if (::kill(static_cast<pid_t>(args.Number(0)), 0) != 0) return out.Error(errno);
         out.Line("SIGNALED");
       }},
      {"replace-sigsys", [](const Args&, EscapeOutput& out) { ReplaceSigsys(out); }},
      {"descriptors", [](const Args&, EscapeOutput& out) { ListDescriptors(out); }},
      {"abort", [](const Args&, EscapeOutput&) { std::abort(); }},  // tgkill of itself
      {"heap-overflow",  // a sanitizer's report must still come out under the sandbox
       [](const Args&, EscapeOutput& out) {
         std::unique_ptr<volatile char[]> block(new volatile char[16]);
         out.Line("BYTE " + std::to_string(static_cast<int>(block[16])));
       }},
  };
  return *escapes;
}

}  // namespace

void EscapeOutput::Error(int error) {
  if (first_error_ == 0) first_error_ = error;
  Line(std::string("ERROR ") + std::strerror(error));
}

bool RunEscape(const std::string& escape, const std::vector<std::string>& args,
               EscapeOutput& out) {
  auto it = Escapes().find(escape);
  if (it == Escapes().end()) {
    out.Line("ESCAPE-ERROR unknown escape '" + escape + "'");
    return false;
  }
  try {
    it->second(Args{args}, out);
  } catch (const BadArgument& bad) {
    out.Line("ESCAPE-ERROR " + escape + ": " + bad.why);
    return false;
  }
  return true;
}

}  // namespace fnhost::testing
