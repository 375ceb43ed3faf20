// `fnhost run MODULE.so`: load a module, call it, show what the cold start and the warm calls
// cost.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fnhost/host.h"
#include "src/cli/commands.h"
#include "src/cli/flags.h"
#include "src/cli/sandbox_flags.h"
#include "src/host/host_impl.h"

namespace fnhost::cli {
namespace {

constexpr char kUsage[] =
    "usage: fnhost run MODULE.so [--data=STRING] [--repeat=N] [--init-config=STRING] "
    "[--snapshot-dir=DIR] [--isolation=in_process|process] [--metadata=KEY=VALUE]... "
    "[--grant=SERVICE]... [--sandbox=off|basic|strict] [--on-denial=errno|kill] "
    "[--read-path=DIR]... [--write-path=DIR]... [--allow-syscall=NAME]... [--allow-network] "
    "[--no-count-refused-opens] [--memory-limit=BYTES[KiB|MiB|GiB]] [--pids-limit=N] "
    "[--cpu-time-limit=DURATION]\n";

// The request metadata of --metadata=KEY=VALUE flags, keys lower-cased as HTTP headers are
// where they enter; an error names a flag without '=' or with a bad key.
absl::Status ParseMetadata(const std::vector<std::string>& flags,
                           std::vector<std::pair<std::string, std::string>>* pairs) {
  for (const std::string& flag : flags) {
    const size_t equals = flag.find('=');
    std::string key = absl::AsciiStrToLower(flag.substr(0, std::min(equals, flag.size())));
    const bool valid = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
             c == '-';
    });
    if (equals == std::string::npos || !valid) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--metadata=", flag, ": expected KEY=VALUE, KEY of letters, digits, '_', '.', '-'"));
    }
    pairs->emplace_back(std::move(key), flag.substr(equals + 1));
  }
  return absl::OkStatus();
}

// Keeps the one cold-start event of the run.
class ColdStartRecorder : public MetricsSink {
 public:
  void OnColdStart(const ColdStartEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!event_.has_value()) {
      event_ = event;
      version_ = std::string(event.module_version);
    }
  }
  void OnInvocation(const InvocationEvent&) override {}
  // One line each, as it happens: a rejected snapshot says why init ran instead.
  void OnSnapshotEvent(const SnapshotEvent& event) override {
    static constexpr const char* kWhat[] = {"written", "write failed", "restored",
                                            "rejected, state built by init"};
    std::string path(event.path), detail(event.detail);
    if (detail.find(path) == std::string::npos) {
      detail = detail.empty() ? path : path + ": " + detail;
    }
    std::fprintf(stderr, "snapshot %s: %s\n", kWhat[static_cast<int>(event.kind)], detail.c_str());
  }
  void Print() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!event_.has_value()) return;
    auto ms = [](absl::Duration d) { return absl::ToDoubleMilliseconds(d); };
    std::fprintf(stderr, "cold start (module version %s, state from %s): %.3f ms\n",
                 version_.c_str(),
                 event_->state_source == StateSource::kRestore ? "snapshot" : "init",
                 ms(event_->total));
    std::fprintf(stderr, "  file checks      %10.3f ms\n", ms(event_->file_checks));
    std::fprintf(stderr, "  dlopen           %10.3f ms\n", ms(event_->dlopen));
    std::fprintf(stderr, "  abi check        %10.3f ms\n", ms(event_->abi_check));
    std::fprintf(stderr, "  state %-10s %10.3f ms\n",
                 event_->state_source == StateSource::kRestore ? "restore" : "init",
                 ms(event_->state_init));
    std::fprintf(stderr, "  %-16s %10.3f ms\n",
                 isolated_ ? "worker spawn" : "instance create", ms(event_->instance_create));
    if (isolated_) {
      std::fprintf(stderr, "  zygote start     %10.3f ms (beyond the phases above)\n",
                   ms(event_->zygote_start));
    }
  }
  void set_isolated(bool isolated) { isolated_ = isolated; }
  // What the first worker's sandbox has in force, and what it denies, as it happens.
  void OnWorkerEvent(const WorkerEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (event.kind == WorkerEventKind::kSandboxInForce && !sandbox_shown_) {
      sandbox_shown_ = true;
      std::fprintf(stderr, "sandbox %.*s\n", static_cast<int>(event.sandbox_summary.size()),
                   event.sandbox_summary.data());
    } else if (event.kind == WorkerEventKind::kSandboxDenied) {
      std::fprintf(stderr, "sandbox denied %.*s (%llu)\n", static_cast<int>(event.syscall.size()),
                   event.syscall.data(), static_cast<unsigned long long>(event.count));
    }
  }

 private:
  std::mutex mu_;
  std::optional<ColdStartEvent> event_;
  std::string version_;
  bool isolated_ = false;  // process isolation: the phases ran in a zygote
  bool sandbox_shown_ = false;
};

double Percentile(std::vector<double>& sorted, double q) {
  size_t index = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

// Calls the function `repeat` times with `data` and the request metadata; prints the reply
// (stdout), the response metadata, the cold start and the warm latencies (stderr).
int CallAndReport(Host& host, const FunctionHandle& handle, const std::string& data,
                  int64_t repeat,
                  const std::vector<std::pair<std::string, std::string>>& metadata_pairs,
                  ColdStartRecorder& recorder) {
  std::vector<Metadata> metadata;
  for (const auto& [key, value] : metadata_pairs) metadata.emplace_back(key, value);
  CallContext context;
  context.metadata = metadata;
  CallOptions options;
  options.context = &context;
  std::string response;
  std::vector<double> warm_micros;
  warm_micros.reserve(static_cast<size_t>(repeat));
  for (int64_t i = 0; i < repeat; ++i) {
    auto start = std::chrono::steady_clock::now();
    absl::Status status = host.Invoke(handle, data, &response, options);
    auto end = std::chrono::steady_clock::now();
    if (!status.ok()) {
      std::fprintf(stderr, "fnhost run: %s\n", std::string(status.message()).c_str());
      return 1;
    }
    if (i > 0) warm_micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
  }
  std::fwrite(response.data(), 1, response.size(), stdout);
  if (!response.empty() && response.back() != '\n') std::fputc('\n', stdout);
  std::fflush(stdout);
  for (const auto& [key, value] : context.response_metadata) {
    std::fprintf(stderr, "response metadata: %s=%s\n", key.c_str(), value.c_str());
  }
  recorder.Print();
  if (!warm_micros.empty()) {
    std::sort(warm_micros.begin(), warm_micros.end());
    std::fprintf(stderr, "warm calls: %zu, latency p50 %.2f us, p99 %.2f us\n",
                 warm_micros.size(), Percentile(warm_micros, 0.5),
                 Percentile(warm_micros, 0.99));
  }
  return 0;
}

// The function `fnhost run` registers, as "main": the module, --init-config, --isolation and
// the sandbox flags (sandbox_flags.h; the workers' sandbox, which only process isolation has).
absl::StatusOr<FunctionSpec> SpecFromFlags(const Flags& flags) {
  const std::string isolation = flags.Get("isolation");
  if (!isolation.empty() && isolation != "in_process" && isolation != "process") {
    return absl::InvalidArgumentError(
        absl::StrCat("--isolation must be in_process or process, not \"", isolation, "\""));
  }
  std::string given;
  absl::StatusOr<SandboxOptions> sandbox = SandboxFromFlags(flags, &given);
  if (!sandbox.ok()) return sandbox.status();
  if (!given.empty() && isolation != "process") {
    return absl::InvalidArgumentError(absl::StrCat("--", given, " needs --isolation=process"));
  }
  FunctionSpec spec;
  spec.name = "main";
  spec.module_path = flags.positional()[0];
  spec.init_config = flags.Get("init-config");
  if (isolation == "process") spec.isolation.mode = IsolationOptions::Mode::kProcess;
  spec.sandbox = *std::move(sandbox);
  spec.services = flags.GetAll("grant");
  return spec;
}

std::vector<std::string> RunFlagNames() {
  std::vector<std::string> names = {"data",      "repeat",    "init-config", "snapshot-dir",
                                    "isolation", "metadata*", "grant*"};
  for (const std::string& name : SandboxFlagNames()) names.push_back(name);
  return names;
}

}  // namespace

int RunCommand(int argc, char** argv) {
  if (HelpRequested(argc, argv, 2)) return ShowHelp(kUsage);
  absl::StatusOr<Flags> flags =
      Flags::Parse(argc, argv, 2, RunFlagNames(), SandboxSwitchNames());
  if (!flags.ok() || flags->positional().size() != 1) {
    // One line: the cause, then the usage.
    std::fprintf(stderr, "fnhost run: %s; %s",
                 flags.ok() ? "expected one MODULE.so" : std::string(flags.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  absl::StatusOr<int64_t> repeat = flags->GetInt("repeat", 1);
  if (!repeat.ok() || *repeat < 1) {
    std::fprintf(stderr, "fnhost run: --repeat must be a positive integer\n");
    return 2;
  }

  absl::StatusOr<FunctionSpec> spec = SpecFromFlags(*flags);
  if (!spec.ok()) {
    std::fprintf(stderr, "fnhost run: %s; %s", std::string(spec.status().message()).c_str(),
                 kUsage);
    return 2;
  }

  std::vector<std::pair<std::string, std::string>> metadata_pairs;
  if (absl::Status status = ParseMetadata(flags->GetAll("metadata"), &metadata_pairs);
      !status.ok()) {
    std::fprintf(stderr, "fnhost run: %s; %s", std::string(status.message()).c_str(), kUsage);
    return 2;
  }

  ColdStartRecorder recorder;
  recorder.set_isolated(spec->isolation.mode == IsolationOptions::Mode::kProcess);
  HostOptions options;
  options.metrics_sink = &recorder;
  options.snapshot_dir = flags->Get("snapshot-dir");
  // No maintenance thread: a few calls, then the host goes (and writes a pending snapshot).
  absl::StatusOr<std::unique_ptr<Host>> host = CreateHost(options, /*maintenance_thread=*/false);
  if (!host.ok()) {
    std::fprintf(stderr, "fnhost run: %s\n", std::string(host.status().message()).c_str());
    return 1;
  }
  if (absl::Status status = (*host)->Register(*spec); !status.ok()) {
    std::fprintf(stderr, "fnhost run: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  absl::StatusOr<FunctionHandle> handle = (*host)->Lookup("main");
  if (!handle.ok()) return 1;
  return CallAndReport(**host, *handle, flags->Get("data"), *repeat, metadata_pairs, recorder);
}

}  // namespace fnhost::cli
