// The escapes that the sandbox tests try, shared by fnhost_sandbox_probe (a process that
// sandboxes itself, tests/support/sandbox_probe_main.cc) and the escape_artist module (a worker
// that the Host sandboxes, tests/modules/escape_artist.cc). Each escape writes what it got, a
// line at a time, to an EscapeOutput: "ERROR <strerror>" for an attempt that failed (the first
// errno is kept), else what it obtained ("READ <bytes>", "WROTE", "CONNECTED", "FORKS <n>"...).
// Plain C++ and libc, so that a module can carry it.
//
//   none | pid | read-file PATH | read-file-signals-blocked PATH (from a thread that blocks
//   every signal, as Boost.Asio's pool threads do) | write-file PATH | connect PORT | fork |
//   fork-bomb N [hold] |
//   release | exec-shell [PATH] | ptrace PID | ptrace-parent | proc-mem PID ADDRESS LENGTH |
//   vm-read PID ADDRESS LENGTH | raise-rlimit | burn-cpu MILLISECONDS | sleep MILLISECONDS |
//   allocate MIB | threads N | signal PID | replace-sigsys | descriptors | abort |
//   heap-overflow
//
// fork-bomb forks at most N (and never more than 64) children whatever happens, so that a
// sandbox that fails cannot take the machine down; with "hold" they stay until "release".
//
// Thread-safety: none; one escape at a time.

#ifndef FNHOST_TESTS_SUPPORT_ESCAPES_H_
#define FNHOST_TESTS_SUPPORT_ESCAPES_H_

#include <string>
#include <vector>

namespace fnhost::testing {

class EscapeOutput {
 public:
  virtual ~EscapeOutput() = default;
  virtual void Line(const std::string& line) = 0;

  // "ERROR <strerror>"; the first one's errno is kept.
  void Error(int error);
  int first_error() const { return first_error_; }

 private:
  int first_error_ = 0;
};

// Runs `escape` with `args`. False, with an "ESCAPE-ERROR <why>" line, for an unknown escape or
// arguments it cannot use.
bool RunEscape(const std::string& escape, const std::vector<std::string>& args,
               EscapeOutput& out);

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_ESCAPES_H_
