#include "src/cli/sandbox_flags.h"

#include <cstdint>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "src/common/paths.h"
#include "src/sandbox/sandbox_policy.h"

namespace fnhost::cli {
namespace {

// "268435456", "256MiB", "1GiB": bytes, or whole KiB, MiB or GiB.
absl::StatusOr<uint64_t> ParseBytes(absl::string_view text) {
  uint64_t unit = 1;
  for (const auto& [suffix, bytes] : {std::pair<absl::string_view, uint64_t>{"KiB", 1ull << 10},
                                      {"MiB", 1ull << 20},
                                      {"GiB", 1ull << 30}}) {
    if (absl::ConsumeSuffix(&text, suffix)) {
      unit = bytes;
      break;
    }
  }
  uint64_t count = 0;
  if (!absl::SimpleAtoi(text, &count) || count > UINT64_MAX / unit) {
    return absl::InvalidArgumentError("expected bytes, or a whole number of KiB, MiB or GiB");
  }
  return count * unit;
}

absl::Status Paths(const Flags& flags, const char* name, std::vector<std::string>* out) {
  for (const std::string& path : flags.GetAll(name)) {
    absl::StatusOr<std::string> absolute = AbsolutePath(path);
    if (!absolute.ok()) return absolute.status();
    out->push_back(*std::move(absolute));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> SandboxFlagNames() {
  return {"sandbox",        "on-denial",    "read-path*", "write-path*",
          "allow-syscall*", "memory-limit", "pids-limit", "cpu-time-limit"};
}

std::vector<std::string> SandboxSwitchNames() {
  return {"allow-network", "no-count-refused-opens"};
}

absl::StatusOr<SandboxOptions> SandboxFromFlags(const Flags& flags, std::string* given) {
  given->clear();
  std::vector<std::string> names = SandboxFlagNames();
  for (const std::string& name : SandboxSwitchNames()) names.push_back(name);
  for (std::string name : names) {
    if (name.back() == '*') name.pop_back();
    if (given->empty() && flags.Has(name)) *given = name;
  }
  SandboxOptions sandbox;
  absl::StatusOr<SandboxOptions::Level> level = sandbox::ParseLevel(flags.Get("sandbox", "off"));
  if (!level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--sandbox: ", level.status().message()));
  }
  sandbox.level = *level;
  const std::string on_denial = flags.Get("on-denial", "errno");
  if (on_denial != "errno" && on_denial != "kill") {
    return absl::InvalidArgumentError(
        absl::StrCat("--on-denial must be errno or kill, not \"", on_denial, "\""));
  }
  sandbox.on_denial =
      on_denial == "kill" ? SandboxOptions::OnDenial::kKill : SandboxOptions::OnDenial::kErrno;
  if (absl::Status status = Paths(flags, "read-path", &sandbox.read_paths); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--read-path: ", status.message()));
  }
  if (absl::Status status = Paths(flags, "write-path", &sandbox.write_paths); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--write-path: ", status.message()));
  }
  sandbox.allow_syscalls = flags.GetAll("allow-syscall");
  sandbox.allow_network = flags.Has("allow-network");
  sandbox.count_refused_opens = !flags.Has("no-count-refused-opens");
  if (flags.Has("memory-limit")) {
    absl::StatusOr<uint64_t> bytes = ParseBytes(flags.Get("memory-limit"));
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--memory-limit=", flags.Get("memory-limit"), ": ", bytes.status().message()));
    }
    sandbox.memory_limit_bytes = *bytes;
  }
  absl::StatusOr<int64_t> pids =
      flags.GetInt("pids-limit", static_cast<int64_t>(sandbox.pids_limit));
  if (!pids.ok() || *pids < 0) {
    return absl::InvalidArgumentError("--pids-limit must be a number of processes (0: none)");
  }
  sandbox.pids_limit = static_cast<uint64_t>(*pids);
  absl::StatusOr<absl::Duration> cpu = flags.GetDuration("cpu-time-limit", absl::ZeroDuration());
  if (!cpu.ok() || *cpu < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--cpu-time-limit must be a duration such as 200ms or 2s (0: none)");
  }
  sandbox.cpu_time_limit = *cpu;
  return sandbox;
}

}  // namespace fnhost::cli
