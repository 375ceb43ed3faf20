// fnhost_sandbox_probe: applies a sandbox policy to itself, as a worker does, then tries one
// escape and prints what happened. The sandbox tests run it; a hostile module can reuse the
// escapes.
//
//   fnhost_sandbox_probe [options] <escape> [arguments]
//   options: --level=off|basic|strict  --on-denial=errno|kill  --read=PATH  --write=PATH
//            --allow=SYSCALL  --allow-network  --memory-limit=BYTES  --pids-limit=N
//            --denials-fd=FD (a SandboxDenials page to count into)
//            --cgroup-fd=FD (a worker cgroup's cgroup.procs, repeatable)
//            --cgroup-limits=memory|pids|memory,pids (what those cgroups limit)
//            --landlock-only (Landlock with TCP rules and nothing else)
//            --network-namespace-only (a private network namespace and nothing else)
//            --zygote (prepare the sandbox, fork, and apply it in the child, as a zygote and
//                      its worker do; the parent then prints "CHILD-CPU <us>")
//            --lower-nofile=N (before the sandbox: RLIMIT_NOFILE's soft limit to N)
//   escapes: none, read-file PATH, write-file PATH, connect PORT, fork, fork-bomb N, exec-shell,
//            ptrace PID, proc-mem PID ADDRESS LENGTH, vm-read PID ADDRESS LENGTH, raise-rlimit,
//            burn-cpu MILLISECONDS, allocate MIB, threads N, signal PID, replace-sigsys, abort
//
// Output, one line each: "SANDBOX <summary>", "FALLBACK <line>", then the escape's result:
// "ERROR <strerror>" when the attempt failed, else what it got. Exit status 0, or 2 when the
// arguments or the sandbox failed ("APPLY-ERROR <message>").

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/sandbox/cpu_clock.h"
#include "src/sandbox/landlock.h"
#include "src/sandbox/process_limits.h"
#include "src/sandbox/sandbox.h"

namespace fnhost::sandbox {
namespace {

void Print(const std::string& line) {
  std::string text = line + "\n";
  if (::write(STDOUT_FILENO, text.data(), text.size()) < 0) ::_exit(3);
}
std::string ErrorLine(int error) { return absl::StrCat("ERROR ", std::strerror(error)); }
void PrintErrno() { Print(ErrorLine(errno)); }

uint64_t Number(const std::vector<std::string>& args, size_t i) {
  uint64_t value = 0;
  if (i >= args.size() || !absl::SimpleAtoi(args[i], &value)) {
    Print(absl::StrCat("APPLY-ERROR argument ", i + 1, " of the escape must be a number"));
    ::_exit(2);
  }
  return value;
}

void ReadFile(const std::vector<std::string>& args) {
  int fd = ::open(args.at(0).c_str(), O_RDONLY);
  char buffer[256] = {};
  ssize_t n = fd >= 0 ? ::read(fd, buffer, sizeof(buffer) - 1) : -1;
  if (n < 0) return PrintErrno();
  Print(absl::StrCat("READ ", std::string(buffer, static_cast<size_t>(n))));
}

void WriteFile(const std::vector<std::string>& args) {
  int fd = ::open(args.at(0).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ::write(fd, "pwned", 5) != 5) return PrintErrno();
  ::close(fd);
  Print("WROTE");
}

void Connect(const std::vector<std::string>& args) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return PrintErrno();
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(Number(args, 0)));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return PrintErrno();
  }
  Print("CONNECTED");
}

// Forks up to `limit` children (no more, whatever the sandbox does), each waiting for the
// probe to let go; prints how many forks succeeded.
void ForkBomb(uint64_t limit) {
  int release[2];
  if (::pipe(release) != 0) return PrintErrno();
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
  ::close(release[1]);
  while (::wait(nullptr) > 0 || errno == EINTR) {
  }
  if (first_error != 0) Print(ErrorLine(first_error));
  Print(absl::StrCat("FORKS ", forks));
}

void ReadOtherProcess(const std::vector<std::string>& args, bool through_proc) {
  const pid_t pid = static_cast<pid_t>(Number(args, 0));
  const uint64_t address = Number(args, 1);
  const uint64_t length = std::min<uint64_t>(Number(args, 2), 256);
  std::string buffer(length, '\0');
  ssize_t n;
  if (through_proc) {
    int fd = ::open(absl::StrCat("/proc/", pid, "/mem").c_str(), O_RDONLY);
    n = fd >= 0 ? ::pread(fd, buffer.data(), length, static_cast<off_t>(address)) : -1;
  } else {
    iovec local{buffer.data(), length};
    iovec remote{reinterpret_cast<void*>(address), length};
    n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  }
  if (n < 0) return PrintErrno();
  buffer.resize(static_cast<size_t>(n));
  Print(absl::StrCat("READ ", buffer));
}

void RaiseRlimits() {
  rlimit nofile;
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  rlimit raised{nofile.rlim_max, nofile.rlim_max};
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) PrintErrno();
  rlimit core{RLIM_INFINITY, RLIM_INFINITY};
  if (::prlimit(0, RLIMIT_CORE, &core, nullptr) != 0) PrintErrno();
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  ::getrlimit(RLIMIT_CORE, &core);
  Print(absl::StrCat("NOFILE ", nofile.rlim_cur));
  Print(absl::StrCat("CORE ", core.rlim_max == RLIM_INFINITY ? "unlimited"
                                                             : absl::StrCat(core.rlim_max)));
}

void BurnCpu(uint64_t milliseconds) {
  ProcessCpuClock clock = ProcessCpuClock::ForThisProcess();
  absl::Duration used;
  do {
    absl::StatusOr<absl::Duration> now = clock.Now();
    if (!now.ok()) return Print(absl::StrCat("ERROR ", now.status().ToString()));
    used = *now;
  } while (used < absl::Milliseconds(milliseconds));
  Print(absl::StrCat("BURNED ", absl::ToInt64Microseconds(used)));
}

// Maps and touches 1 MiB at a time (mmap, not malloc: a sanitizer's allocator would abort).
void Allocate(uint64_t mebibytes) {
  for (uint64_t i = 1; i <= mebibytes; ++i) {
    void* chunk = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                         -1, 0);
    if (chunk == MAP_FAILED) return Print(absl::StrCat("ALLOC-FAILED ", ErrorLine(errno)));
    std::memset(chunk, 0x5a, 1 << 20);
    Print(absl::StrCat("ALLOCATED ", i));
  }
}

void Threads(uint64_t count) {
  std::vector<std::thread> threads;
  std::atomic<uint64_t> ran{0};
  for (uint64_t i = 0; i < count; ++i) threads.emplace_back([&ran] { ++ran; });
  for (std::thread& thread : threads) thread.join();
  Print(absl::StrCat("THREADS ", ran.load()));
}

void ReplaceSigsys() {
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  if (::sigaction(SIGSYS, &ignore, nullptr) != 0) return PrintErrno();
  Print("REPLACED");
}

void RunEscape(const std::string& escape, const std::vector<std::string>& args) {
  std::map<std::string, std::function<void()>> escapes = {
      {"none", [] { Print("OK"); }},
      {"read-file", [&] { ReadFile(args); }},
      {"write-file", [&] { WriteFile(args); }},
      {"connect", [&] { Connect(args); }},
      {"fork",
       [] {
         pid_t pid = ::fork();
         if (pid == 0) ::_exit(0);
         if (pid < 0) return PrintErrno();
         ::waitpid(pid, nullptr, 0);
         Print("FORKED");
       }},
      {"fork-bomb", [&] { ForkBomb(std::min<uint64_t>(Number(args, 0), 64)); }},
      {"exec-shell",
       [] {
         ::execl("/bin/sh", "sh", "-c", "echo SHELL-RAN", static_cast<char*>(nullptr));
         PrintErrno();
       }},
      {"ptrace",
       [&] {
         pid_t pid = static_cast<pid_t>(Number(args, 0));
         if (::ptrace(PTRACE_SEIZE, pid, nullptr, nullptr) != 0) return PrintErrno();
         Print("TRACED");  // the probe's exit detaches it
       }},
      {"proc-mem", [&] { ReadOtherProcess(args, /*through_proc=*/true); }},
      {"vm-read", [&] { ReadOtherProcess(args, /*through_proc=*/false); }},
      {"raise-rlimit", [] { RaiseRlimits(); }},
      {"burn-cpu", [&] { BurnCpu(Number(args, 0)); }},
      {"allocate", [&] { Allocate(Number(args, 0)); }},
      {"threads", [&] { Threads(std::min<uint64_t>(Number(args, 0), 16)); }},
      {"signal",
       [&] {
         if (::kill(static_cast<pid_t>(Number(args, 0)), 0) != 0) return PrintErrno();
         Print("SIGNALED");
       }},
      {"replace-sigsys", [] { ReplaceSigsys(); }},
      {"abort", [] { std::abort(); }},  // raise(SIGABRT): tgkill of itself
      {"heap-overflow",  // a sanitizer's report must still come out under the sandbox
       [] {
         std::unique_ptr<volatile char[]> block(new volatile char[16]);
         Print(absl::StrCat("BYTE ", static_cast<int>(block[16])));
       }},
  };
  auto it = escapes.find(escape);
  if (it == escapes.end()) {
    Print(absl::StrCat("APPLY-ERROR unknown escape '", escape, "'"));
    ::_exit(2);
  }
  it->second();
}

struct Options {
  SandboxPolicy policy;
  int denials_fd = -1;
  CgroupTicket cgroups;
  bool landlock_only = false;
  bool network_namespace_only = false;
  bool zygote = false;
  uint64_t lower_nofile = 0;
  std::string escape;
  std::vector<std::string> escape_args;
};

bool ParseOption(std::string_view arg, Options* options) {
  const size_t equals = arg.find('=');
  const std::string name(arg.substr(0, equals));
  const std::string text(equals == std::string_view::npos ? "" : arg.substr(equals + 1));
  SandboxPolicy& policy = options->policy;
  if (name == "--level") {
    absl::StatusOr<SandboxLevel> level = ParseLevel(text);
    policy.level = level.ok() ? *level : SandboxLevel::kOff;
    return level.ok();
  }
  if (name == "--on-denial") {
    policy.on_denial = text == "kill" ? DenialAction::kKill : DenialAction::kErrno;
    return text == "kill" || text == "errno";
  }
  if (name == "--read") return policy.read_paths.push_back(text), true;
  if (name == "--write") return policy.write_paths.push_back(text), true;
  if (name == "--allow") return policy.allow_syscalls.push_back(text), true;
  if (name == "--allow-network") return policy.allow_network = true;
  if (name == "--landlock-only") return options->landlock_only = true;
  if (name == "--network-namespace-only") return options->network_namespace_only = true;
  if (name == "--zygote") return options->zygote = true;
  if (name == "--cgroup-limits") {
    options->cgroups.limits_memory = text.find("memory") != std::string::npos;
    options->cgroups.limits_pids = text.find("pids") != std::string::npos;
    return true;
  }
  const std::map<std::string, std::function<void(uint64_t)>> numeric = {
      {"--memory-limit", [&](uint64_t n) { policy.memory_limit_bytes = n; }},
      {"--pids-limit", [&](uint64_t n) { policy.pids_limit = n; }},
      {"--denials-fd", [&](uint64_t n) { options->denials_fd = static_cast<int>(n); }},
      {"--lower-nofile", [&](uint64_t n) { options->lower_nofile = n; }},
      {"--cgroup-fd",
       [&](uint64_t n) {
         options->cgroups.procs_fds.push_back(static_cast<int>(n));
         options->cgroups.directories.push_back(absl::StrCat("(cgroup fd ", n, ")"));
       }},
  };
  uint64_t number = 0;
  auto it = numeric.find(name);
  if (it == numeric.end() || !absl::SimpleAtoi(text, &number)) return false;
  it->second(number);
  return true;
}

void PrintReport(const SandboxReport& report) {
  Print(absl::StrCat("SANDBOX ", report.Summary()));
  for (const std::string& line : report.fallbacks) Print(absl::StrCat("FALLBACK ", line));
}

// As a zygote does: prepares the sandbox and enters its network, forks, and lets the child
// apply the sandbox and run the escape. The parent reports the child's CPU time, then ends as
// the child did (its exit status, or its signal). Returns in the child only.
absl::Status ForkLikeAZygote(const ValidatedPolicy& policy, Options& options,
                             const WorkerResources& resources) {
  absl::StatusOr<std::unique_ptr<PreparedSandbox>> prepared =
      PreparedSandbox::Prepare(policy, SandboxContext{.function_name = "probe"});
  if (!prepared.ok()) return prepared.status();
  if (absl::Status status = (*prepared)->EnterInZygote(); !status.ok()) return status;
  pid_t pid = ::fork();
  if (pid == 0) {
    SandboxReport report;
    absl::Status status = (*prepared)->ApplyInWorker(resources, &report);
    if (status.ok()) PrintReport(report);
    return status;
  }
  options.cgroups.CloseDescriptors();
  siginfo_t info{};
  while (::waitid(P_PID, pid, &info, WEXITED | WNOWAIT) != 0 && errno == EINTR) {
  }
  absl::StatusOr<ProcessCpuClock> clock = ProcessCpuClock::ForProcess(pid);
  absl::StatusOr<absl::Duration> cpu = clock.ok() ? clock->Now() : clock.status();
  if (cpu.ok()) Print(absl::StrCat("CHILD-CPU ", absl::ToInt64Microseconds(*cpu)));
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::signal(WTERMSIG(status), SIG_DFL);
    ::kill(::getpid(), WTERMSIG(status));
  }
  ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

// Applies what the options ask for; prints the summary and the fallbacks.
absl::Status Apply(Options& options, std::unique_ptr<SandboxDenials>* denials) {
  if (options.lower_nofile > 0) {
    rlimit nofile;
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    nofile.rlim_cur = options.lower_nofile;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (options.landlock_only) {
    absl::StatusOr<LandlockRuleset> ruleset = LandlockRuleset::Create({.deny_tcp = true});
    if (!ruleset.ok()) return ruleset.status();
    Print(absl::StrCat("SANDBOX landlock-only ABI ", ruleset->result().abi,
                       ruleset->result().tcp_denied ? " with TCP rules" : " without TCP rules"));
    return ruleset->RestrictSelf();
  }
  if (options.network_namespace_only) {
    Print("SANDBOX network-namespace-only");
    return EnterPrivateNetwork(ProbeSandbox().network_namespace_needs_user_namespace);
  }
  if (options.denials_fd >= 0) {
    absl::StatusOr<std::unique_ptr<SandboxDenials>> mapped =
        SandboxDenials::Map(options.denials_fd, /*writable=*/true);
    if (!mapped.ok()) return mapped.status();
    *denials = *std::move(mapped);
  }
  absl::StatusOr<ValidatedPolicy> policy = ValidateSandboxPolicy("probe", options.policy);
  if (!policy.ok()) return policy.status();
  WorkerResources resources;
  resources.cgroups = options.cgroups.procs_fds.empty() ? nullptr : &options.cgroups;
  resources.denials = *denials != nullptr ? (*denials)->page() : nullptr;
  if (options.zygote) return ForkLikeAZygote(*policy, options, resources);
  SandboxReport report;
  absl::Status status =
      ApplyInWorker(*policy, SandboxContext{.function_name = "probe"}, resources, &report);
  if (status.ok()) PrintReport(report);
  return status;
}

int Main(int argc, char** argv) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  Options options;
  int i = 1;
  for (; i < argc && std::strncmp(argv[i], "--", 2) == 0; ++i) {
    if (!ParseOption(argv[i], &options)) {
      Print(absl::StrCat("APPLY-ERROR bad option ", argv[i]));
      return 2;
    }
  }
  if (i == argc) {
    Print("APPLY-ERROR usage: fnhost_sandbox_probe [options] <escape> [arguments]");
    return 2;
  }
  options.escape = argv[i];
  options.escape_args.assign(argv + i + 1, argv + argc);
  std::unique_ptr<SandboxDenials> denials;
  // The process runs under the sandbox from here: no sanitizer leak check at exit (_exit).
  if (absl::Status status = Apply(options, &denials); !status.ok()) {
    Print(absl::StrCat("APPLY-ERROR ", status.ToString()));
    ::_exit(2);
  }
  RunEscape(options.escape, options.escape_args);
  ::_exit(0);
}

}  // namespace
}  // namespace fnhost::sandbox

int main(int argc, char** argv) { return fnhost::sandbox::Main(argc, argv); }
