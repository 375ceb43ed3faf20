// fnhost_sandbox_probe: applies a sandbox policy to itself, as a worker does, then tries one
// escape (tests/support/escapes.h, which the escape_artist module shares) and prints what
// happened. The sandbox tests run it.
//
//   fnhost_sandbox_probe [options] <escape> [arguments]
//   options: --level=off|basic|strict  --on-denial=errno|kill  --read=PATH  --write=PATH
//            --allow=SYSCALL  --allow-network  --memory-limit=BYTES  --pids-limit=N
//            --no-count-refused-opens
//            --denials-fd=FD (a SandboxDenials page to count into)
//            --cgroup-fd=FD (a worker cgroup's cgroup.procs, repeatable)
//            --cgroup-limits=memory|pids|memory,pids (what those cgroups limit)
//            --landlock-only (Landlock with TCP rules and nothing else)
//            --network-namespace-only (a private network namespace and nothing else)
//            --zygote (prepare the sandbox, fork, and apply it in the child, as a zygote and
//                      its worker do; the child prints "PREDICTION-MATCHES" where its
//                      report is what PredictReport said before the fork, else
//                      "PREDICTION-DIFFERS <predicted summary>"; the parent then prints
//                      "CHILD-CPU <us>")
//            --lower-nofile=N (before the sandbox: RLIMIT_NOFILE's soft limit to N)
//   escapes: see tests/support/escapes.h
//
// Output, one line each: "SANDBOX <summary>", "FALLBACK <line>", then the escape's result:
// "ERROR <strerror>" when the attempt failed, else what it got. Exit status 0, or 2 when the
// arguments or the sandbox failed ("APPLY-ERROR <message>", "ESCAPE-ERROR <message>").

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/sandbox/cpu_clock.h"
#include "src/sandbox/landlock.h"
#include "src/sandbox/process_limits.h"
#include "src/sandbox/sandbox.h"
#include "tests/support/escapes.h"

namespace fnhost::sandbox {
namespace {

void Print(const std::string& line) {
  std::string text = line + "\n";
  if (::write(STDOUT_FILENO, text.data(), text.size()) < 0) ::_exit(3);
}

// Escapes print as they go: an allocation the kernel ends shows how far it got.
class PrintedOutput final : public fnhost::testing::EscapeOutput {
 public:
  void Line(const std::string& line) override { Print(line); }
};

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
  if (name == "--no-count-refused-opens") return !(policy.count_refused_opens = false);
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
  const SandboxReport predicted = (*prepared)->PredictReport(resources);
  pid_t pid = ::fork();
  if (pid == 0) {
    SandboxReport report;
    absl::Status status = (*prepared)->ApplyInWorker(resources, &report);
    if (status.ok()) PrintReport(report);
    if (status.ok()) {
      Print(report == predicted ? std::string("PREDICTION-MATCHES")
                                : absl::StrCat("PREDICTION-DIFFERS ", predicted.Summary()));
    }
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
  PrintedOutput output;
  ::_exit(fnhost::testing::RunEscape(options.escape, options.escape_args, output) ? 0 : 2);
}

}  // namespace
}  // namespace fnhost::sandbox

int main(int argc, char** argv) { return fnhost::sandbox::Main(argc, argv); }
