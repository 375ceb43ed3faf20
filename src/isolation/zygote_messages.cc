#include "src/isolation/zygote_messages.h"

#include <algorithm>

#include "src/isolation/worker_protocol.h"

namespace fnhost::internal {
namespace {

uint64_t Nanos(absl::Duration duration) {
  return static_cast<uint64_t>(absl::ToInt64Nanoseconds(duration));
}

}  // namespace

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
    PutString(&payload, note.path);
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
    std::string_view path, detail;
    if (!reader.U64(&kind) || kind > static_cast<uint64_t>(SnapshotEventKind::kRejected) ||
        !reader.String(&path) || !reader.String(&detail)) {
      return false;
    }
    start.snapshot_events.push_back(
        {static_cast<SnapshotEventKind>(kind), std::string(path), std::string(detail)});
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
