#include "src/isolation/zygote_messages.h"

#include <algorithm>

#include "src/isolation/worker_protocol.h"

namespace fnhost::internal {
namespace {

uint64_t Nanos(absl::Duration duration) {
  return static_cast<uint64_t>(absl::ToInt64Nanoseconds(duration));
}

}  // namespace

std::string EncodeConfig(const ZygoteOptions& options, bool fork_before_init) {
  std::string payload;
  PutString(&payload, options.function_name);
  PutString(&payload, options.module_path);
  PutString(&payload, options.init_config);
  PutString(&payload, options.sha256);
  PutU64(&payload, options.allow_writable_modules ? 1 : 0);
  PutU64(&payload, options.memory_limit_bytes);
  PutU64(&payload, options.max_message_bytes);
  PutString(&payload, options.snapshot_dir);
  PutU64(&payload, options.trust_private_snapshot_dir ? 1 : 0);
  PutU64(&payload, Nanos(std::clamp(options.spin_budget, absl::ZeroDuration(),
                                    SpinPolicy::kMaxBudget)));
  PutU64(&payload, fork_before_init ? 1 : 0);
  PutU64(&payload, options.use_snapshots ? 1 : 0);
  return payload;
}

bool DecodeConfig(std::string_view payload, ZygoteConfig* config) {
  FieldReader reader(payload);
  std::string_view function_name, module_path, init_config, sha256, snapshot_dir;
  uint64_t allow_writable, memory_limit, max_message_bytes, trust_private_snapshot_dir,
      spin_budget_nanos, fork_before_init, use_snapshots;
  if (!reader.String(&function_name) || !reader.String(&module_path) ||
      !reader.String(&init_config) || !reader.String(&sha256) || !reader.U64(&allow_writable) ||
      !reader.U64(&memory_limit) || !reader.U64(&max_message_bytes) ||
      !reader.String(&snapshot_dir) || !reader.U64(&trust_private_snapshot_dir) ||
      !reader.U64(&spin_budget_nanos) || !reader.U64(&fork_before_init) ||
      !reader.U64(&use_snapshots)) {
    return false;
  }
  // SpinPolicy caps it again: a corrupt value cannot make a worker spin for long.
  config->spin_budget = absl::Nanoseconds(std::min<uint64_t>(spin_budget_nanos, 1'000'000'000));
  config->snapshot_dir = snapshot_dir;
  config->trust_private_snapshot_dir = trust_private_snapshot_dir != 0;
  config->function_name = function_name;
  config->module_path = module_path;
  config->init_config = init_config;
  config->sha256 = sha256;
  config->allow_writable = allow_writable != 0;
  config->memory_limit = memory_limit;
  config->max_message_bytes = static_cast<uint32_t>(max_message_bytes);
  config->fork_before_init = fork_before_init != 0;
  config->use_snapshots = use_snapshots != 0;
  return true;
}

std::string EncodeModuleInfo(const ModuleInfo& info) {
  const Zygote::StartReport& start = info.start;
  std::string payload;
  PutString(&payload, info.name);
  PutString(&payload, info.version);
  PutU64(&payload, static_cast<uint64_t>(info.max_concurrency));
  for (absl::Duration phase :
       {start.file_checks, start.dlopen, start.abi_check, start.state_init}) {
    PutU64(&payload, Nanos(phase));
  }
  PutU64(&payload, start.restored ? 1 : 0);
  PutString(&payload, start.snapshot_path);
  PutU64(&payload, start.snapshot_events.size());
  for (const Zygote::StartReport::SnapshotNote& note : start.snapshot_events) {
    PutU64(&payload, static_cast<uint64_t>(note.kind));
    PutString(&payload, note.detail);
  }
  PutU64(&payload, static_cast<uint64_t>(start.fork_point));
  PutU64(&payload, static_cast<uint64_t>(start.init_threads));
  PutU64(&payload, start.workers_run_init ? 1 : 0);
  return payload;
}

bool DecodeModuleInfo(std::string_view payload, ModuleInfo* info) {
  FieldReader reader(payload);
  std::string_view name, version, snapshot_path;
  uint64_t concurrency, restored, events, fork_point, init_threads, workers_run_init;
  uint64_t nanos[4];
  if (!reader.String(&name) || !reader.String(&version) || !reader.U64(&concurrency)) {
    return false;
  }
  for (uint64_t& value : nanos) {
    if (!reader.U64(&value)) return false;
  }
  if (!reader.U64(&restored) || !reader.String(&snapshot_path) || !reader.U64(&events)) {
    return false;
  }
  Zygote::StartReport& start = info->start;
  for (uint64_t i = 0; i < events; ++i) {
    uint64_t kind;
    std::string_view detail;
    if (!reader.U64(&kind) || kind > static_cast<uint64_t>(SnapshotEventKind::kRejected) ||
        !reader.String(&detail)) {
      return false;
    }
    start.snapshot_events.push_back({static_cast<SnapshotEventKind>(kind), std::string(detail)});
  }
  if (!reader.U64(&fork_point) || fork_point > static_cast<uint64_t>(ForkPoint::kBeforeInit) ||
      !reader.U64(&init_threads) || init_threads > (1u << 30) ||
      !reader.U64(&workers_run_init)) {
    return false;
  }
  info->name = name;
  info->version = version;
  info->max_concurrency = static_cast<int>(std::min<uint64_t>(concurrency, 1u << 30));
  start.file_checks = absl::Nanoseconds(nanos[0]);
  start.dlopen = absl::Nanoseconds(nanos[1]);
  start.abi_check = absl::Nanoseconds(nanos[2]);
  start.state_init = absl::Nanoseconds(nanos[3]);
  start.restored = restored != 0;
  start.snapshot_path = snapshot_path;
  start.fork_point = static_cast<ForkPoint>(fork_point);
  start.init_threads = static_cast<int>(init_threads);
  start.workers_run_init = workers_run_init != 0;
  return true;
}

}  // namespace fnhost::internal
