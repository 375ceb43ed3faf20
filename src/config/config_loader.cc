#include "src/config/config_loader.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "fnhost/config.pb.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "src/common/file_system.h"
#include "src/common/paths.h"
#include "src/policy/keep_alive_policy.h"

namespace fnhost {
namespace {

// Keeps the first error, as "<path>:<line>:<col>: <message>": the parser stops there, and
// anything after it would be noise.
class FirstErrorCollector final : public google::protobuf::io::ErrorCollector {
 public:
  explicit FirstErrorCollector(const std::string& path) : path_(path) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (error_.has_value()) return;
    // Protobuf counts from 0; editors and compilers count from 1.
    error_ = line >= 0 ? absl::StrCat(path_, ":", line + 1, ":", column + 1, ": ", message)
                       : absl::StrCat(path_, ": ", message);
  }
  const std::optional<std::string>& error() const { return error_; }

 private:
  const std::string& path_;
  std::optional<std::string> error_;
};

// Minutes after midnight of "HH:MM" (00:00 to 23:59, and 24:00 where `end_of_day` allows it).
std::optional<int> ParseClockTime(const std::string& text, bool end_of_day) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (int i : {0, 1, 3, 4}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  }
  int hours = (text[0] - '0') * 10 + (text[1] - '0');
  int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (minutes >= 60) return std::nullopt;
  if (hours < 24 || (end_of_day && hours == 24 && minutes == 0)) return hours * 60 + minutes;
  return std::nullopt;
}

absl::Status ConvertKeepAlive(const config::KeepAlive& in, KeepAliveOptions& out) {
  switch (in.kind()) {
    case config::KeepAlive::FIXED:
      out.kind = KeepAliveOptions::Kind::kFixed;
      break;
    case config::KeepAlive::SCHEDULED:
      out.kind = KeepAliveOptions::Kind::kScheduled;
      break;
    case config::KeepAlive::HYBRID:
      out.kind = KeepAliveOptions::Kind::kHybrid;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("pool.keep_alive.kind ", in.kind(), " is unknown"));
  }
  if (in.has_idle_timeout_s()) out.idle_timeout = absl::Seconds(in.idle_timeout_s());
  if (in.has_unload_when_idle()) out.unload_when_idle = in.unload_when_idle();
  if (in.has_scheduled_instances()) out.scheduled_instances = in.scheduled_instances();
  if (in.has_warm_every_s()) out.warm_every = absl::Seconds(in.warm_every_s());
  if (in.has_cold_start_cost_gb_s()) out.cold_start_cost_gb_s = in.cold_start_cost_gb_s();
  if (in.has_instance_memory_mb()) out.instance_memory_mb = in.instance_memory_mb();
  out.scale_by_memory = in.scale_by_memory();
  for (const config::KeepAlive::DailyWindow& window : in.daily_window()) {
    std::optional<int> begin = ParseClockTime(window.begin(), /*end_of_day=*/false);
    std::optional<int> end = ParseClockTime(window.end(), /*end_of_day=*/true);
    if (!begin.has_value() || !end.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pool.keep_alive.daily_window \"", window.begin(), "\"-\"", window.end(),
                       "\" is not a pair of \"HH:MM\" times (00:00 to 23:59, end up to 24:00)"));
    }
    if (*begin == *end) {
      return absl::InvalidArgumentError(absl::StrCat("pool.keep_alive.daily_window \"",
                                                     window.begin(), "\"-\"", window.end(),
                                                     "\" is empty"));
    }
    out.daily_windows.push_back({*begin, *end});
  }
  if (absl::Status status = ValidateKeepAliveOptions(out); !status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("pool.keep_alive.", status.message()));
  }
  return absl::OkStatus();
}

absl::Status ConvertIsolation(const config::Function& in, IsolationOptions& out) {
  const config::ProcessLimits& limits = in.process_limits();
  switch (in.isolation()) {
    case config::Function::IN_PROCESS:
      if (in.has_process_limits()) {
        return absl::InvalidArgumentError(
            "process_limits is set but isolation is IN_PROCESS (limits need isolation: PROCESS)");
      }
      return absl::OkStatus();
    case config::Function::PROCESS:
      out.mode = IsolationOptions::Mode::kProcess;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("isolation ", in.isolation(), " is unknown"));
  }
  // Negative values are refused by ConvertFunction.
  out.memory_limit_bytes = limits.memory_limit_bytes();
  if (limits.invoke_timeout_ms() > 0) {
    out.invoke_timeout = absl::Milliseconds(limits.invoke_timeout_ms());
  }
  if (limits.has_crash_limit()) out.crash_limit = limits.crash_limit();
  if (limits.has_crash_window_s()) out.crash_window = absl::Seconds(limits.crash_window_s());
  if (limits.has_crash_backoff_s()) out.crash_backoff = absl::Seconds(limits.crash_backoff_s());
  if (limits.has_spin_budget_us()) out.spin_budget = absl::Microseconds(limits.spin_budget_us());
  if (limits.fork_before_init()) out.fork_point = IsolationOptions::ForkPoint::kBeforeInit;
  return absl::OkStatus();
}

// --- The sandbox block (fnhost/sandbox_options.h) ---
absl::Status ConvertSandbox(const config::Function& in, const std::string& config_dir,
                            SandboxOptions& out) {
  if (!in.has_sandbox()) return absl::OkStatus();
  const config::Sandbox& sandbox = in.sandbox();
  if (in.isolation() != config::Function::PROCESS) {
    return absl::InvalidArgumentError(
        "sandbox is set but isolation is IN_PROCESS (a sandbox needs isolation: PROCESS)");
  }
  switch (sandbox.level()) {
    case config::Sandbox::OFF: out.level = SandboxOptions::Level::kOff; break;
    case config::Sandbox::BASIC: out.level = SandboxOptions::Level::kBasic; break;
    case config::Sandbox::STRICT: out.level = SandboxOptions::Level::kStrict; break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("sandbox.level ", sandbox.level(),
                                                     " is unknown"));
  }
  out.on_denial = sandbox.on_denial() == config::Sandbox::KILL ? SandboxOptions::OnDenial::kKill
                                                               : SandboxOptions::OnDenial::kErrno;
  out.allow_syscalls.assign(sandbox.allow_syscalls().begin(), sandbox.allow_syscalls().end());
  for (const std::string& path : sandbox.read_paths()) {
    out.read_paths.push_back(AbsolutePathFrom(config_dir, path));
  }
  for (const std::string& path : sandbox.write_paths()) {
    out.write_paths.push_back(AbsolutePathFrom(config_dir, path));
  }
  out.allow_network = sandbox.allow_network();
  if (sandbox.has_count_refused_opens()) out.count_refused_opens = sandbox.count_refused_opens();
  if (sandbox.has_memory_limit_bytes()) out.memory_limit_bytes = sandbox.memory_limit_bytes();
  if (sandbox.has_pids_limit()) out.pids_limit = sandbox.pids_limit();
  if (sandbox.cpu_time_limit_ms() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sandbox.cpu_time_limit_ms is negative (",
                                                   sandbox.cpu_time_limit_ms(), ")"));
  }
  out.cpu_time_limit = absl::Milliseconds(sandbox.cpu_time_limit_ms());
  return absl::OkStatus();
}

// Errors carry only the cause; the caller adds the file and the function. Relative paths are
// resolved against `config_dir`, the config file's absolute directory.
absl::Status ConvertFunction(const config::Function& in, const std::string& config_dir,
                             FunctionSpec& out) {
  if (in.name().empty()) return absl::InvalidArgumentError("name is empty");
  if (in.module_path().empty()) return absl::InvalidArgumentError("module_path is empty");
  if (absl::Status s = ConvertIsolation(in, out.isolation); !s.ok()) return s;
  if (absl::Status s = ConvertSandbox(in, config_dir, out.sandbox); !s.ok()) return s;
  if (!in.sha256().empty()) {
    bool hex = in.sha256().size() == 64;
    for (char c : in.sha256()) hex = hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
    if (!hex) {
      return absl::InvalidArgumentError(
          absl::StrCat("sha256 \"", in.sha256(), "\" is not 64 hexadecimal digits"));
    }
  }
  const config::Pool& pool = in.pool();
  const config::KeepAlive& keep_alive = pool.keep_alive();
  // Unset fields read as 0, so only values that were set can fail this.
  const std::pair<const char*, int64_t> counts[] = {
      {"pool.min_instances", pool.min_instances()},
      {"pool.max_instances", pool.max_instances()},
      {"pool.max_concurrency_per_instance", pool.max_concurrency_per_instance()},
      {"pool.max_queue", pool.max_queue()},
      {"pool.default_timeout_ms", pool.default_timeout_ms()},
      {"pool.keep_alive.idle_timeout_s", keep_alive.idle_timeout_s()},
      {"pool.keep_alive.scheduled_instances", keep_alive.scheduled_instances()},
      {"pool.keep_alive.warm_every_s", keep_alive.warm_every_s()},
      {"process_limits.invoke_timeout_ms", in.process_limits().invoke_timeout_ms()},
      {"process_limits.crash_limit", in.process_limits().crash_limit()},
      {"process_limits.crash_window_s", in.process_limits().crash_window_s()},
      {"process_limits.crash_backoff_s", in.process_limits().crash_backoff_s()},
      {"process_limits.spin_budget_us", in.process_limits().spin_budget_us()},
  };
  for (const auto& [field, value] : counts) {
    if (value < 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, " is negative (", value, ")"));
    }
  }

  out.name = in.name();
  out.module_path = AbsolutePathFrom(config_dir, in.module_path());
  out.sha256 = absl::AsciiStrToLower(in.sha256());
  out.init_config = in.init_config();
  out.services.assign(in.services().begin(), in.services().end());
  if (in.has_use_snapshots()) out.use_snapshots = in.use_snapshots();
  if (pool.has_min_instances()) out.pool.min_instances = pool.min_instances();
  if (pool.has_max_instances()) out.pool.max_instances = pool.max_instances();
  if (pool.has_max_concurrency_per_instance()) {
    out.pool.max_concurrency_per_instance = pool.max_concurrency_per_instance();
  }
  if (pool.has_max_queue()) out.pool.max_queue = pool.max_queue();
  if (pool.has_default_timeout_ms()) {
    out.pool.default_timeout = absl::Milliseconds(pool.default_timeout_ms());
  }
  if (out.pool.min_instances > out.pool.max_instances) {
    return absl::InvalidArgumentError(
        absl::StrCat("pool.min_instances (", out.pool.min_instances,
                     ") is greater than pool.max_instances (", out.pool.max_instances, ")"));
  }
  if (in.has_canary()) {
    const config::Canary& canary = in.canary();
    if (canary.module_path().empty()) {
      return absl::InvalidArgumentError("canary.module_path is empty");
    }
    if (!(canary.share() >= 0 && canary.share() <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("canary.share ", canary.share(), " is not between 0 and 1"));
    }
    out.canary.module_path = AbsolutePathFrom(config_dir, canary.module_path());
    out.canary.share = canary.share();
  }
  return ConvertKeepAlive(keep_alive, out.pool.keep_alive);
}

}  // namespace

absl::StatusOr<HostConfig> ParseHostConfig(std::string_view text, const std::string& path) {
  config::HostConfig proto;
  FirstErrorCollector errors(path);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &proto)) {
    return absl::InvalidArgumentError(errors.error().value_or(
        absl::StrCat(path, ": not a valid fnhost.config.HostConfig")));
  }

  absl::StatusOr<std::string> config_dir = AbsoluteParentDirectory(path);
  if (!config_dir.ok()) return config_dir.status();
  HostConfig config;
  config.snapshot_dir = AbsolutePathFrom(*config_dir, proto.snapshot_dir());
  config.allow_writable_modules = proto.allow_writable_modules();
  config.memory_budget_mb = proto.memory_budget_mb();
  if (!(config.memory_budget_mb >= 0) || std::isinf(config.memory_budget_mb)) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": memory_budget_mb must be 0 (no budget) or a positive number of MB, not ",
        config.memory_budget_mb));
  }
  absl::flat_hash_map<std::string, int> first_index_of_name;
  for (int i = 0; i < proto.function_size(); ++i) {
    const config::Function& function = proto.function(i);
    std::string which = function.name().empty()
                            ? absl::StrCat("function #", i + 1)
                            : absl::StrCat("function \"", function.name(), "\"");
    FunctionSpec spec;
    if (absl::Status s = ConvertFunction(function, *config_dir, spec); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat(path, ": ", which, ": ", s.message()));
    }
    if (const double mb = spec.pool.keep_alive.instance_memory_mb;
        config.memory_budget_mb > 0 && mb > config.memory_budget_mb) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", which, ": pool.keep_alive.instance_memory_mb ", mb,
                       " is more than the host's memory_budget_mb ", config.memory_budget_mb));
    }
    auto [it, inserted] = first_index_of_name.emplace(spec.name, i + 1);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", which, ": duplicate name (first used by function #", it->second, ")"));
    }
    config.functions.push_back(std::move(spec));
  }
  return config;
}

absl::StatusOr<HostConfig> LoadHostConfig(const std::string& path) {
  absl::StatusOr<std::string> text = FileSystem::Default()->ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseHostConfig(*text, path);
}

}  // namespace fnhost
