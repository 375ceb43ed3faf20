#include "src/isolation/control_frames.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost::internal {

absl::Status SendControl(int fd, FrameType type, const google::protobuf::MessageLite& message,
                         absl::Time deadline, int pass_fd, int second_pass_fd) {
  return SendFrame(fd, type, 0, 0, message.SerializeAsString(), deadline, pass_fd,
                   second_pass_fd);
}

absl::Status ParseControl(std::string_view payload, google::protobuf::MessageLite* message) {
  if (message->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::OkStatus();
  }
  return absl::DataLossError(absl::StrCat("malformed ", message->GetTypeName(), " frame"));
}

zygote::Error ErrorOf(const absl::Status& status) {
  zygote::Error error;
  error.set_code(static_cast<int32_t>(status.code()));
  error.set_message(std::string(status.message()));
  return error;
}

absl::Status StatusOf(const zygote::Error& error) {
  const int32_t code = error.code();
  if (code <= 0 || code > static_cast<int32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(error.message());
  }
  return absl::Status(static_cast<absl::StatusCode>(code), error.message());
}

absl::Status SendError(int fd, const absl::Status& status, absl::Time deadline) {
  return SendControl(fd, FrameType::kError, ErrorOf(status), deadline);
}

absl::Status ErrorFrameStatus(std::string_view payload) {
  zygote::Error error;
  if (absl::Status parsed = ParseControl(payload, &error); !parsed.ok()) return parsed;
  return StatusOf(error);
}

bool ReadStartReport(const zygote::StartReport& message, ZygoteStartReport* report) {
  if (message.fork_point() > static_cast<uint32_t>(ForkPoint::kBeforeInit) ||
      message.max_concurrency() > (1u << 30) || message.init_threads() > (1u << 30)) {
    return false;
  }
  report->module_name = message.module_name();
  report->module_version = message.module_version();
  report->max_concurrency = static_cast<int>(message.max_concurrency());
  report->file_checks = absl::Nanoseconds(message.file_checks_nanos());
  report->dlopen = absl::Nanoseconds(message.dlopen_nanos());
  report->abi_check = absl::Nanoseconds(message.abi_check_nanos());
  report->state_init = absl::Nanoseconds(message.state_init_nanos());
  report->restored = message.restored();
  report->snapshot_path = message.snapshot_path();
  report->snapshot_events.clear();
  for (const zygote::SnapshotNote& note : message.snapshot_event()) {
    if (note.kind() > static_cast<uint32_t>(SnapshotEventKind::kRejected)) return false;
    report->snapshot_events.push_back(
        {static_cast<SnapshotEventKind>(note.kind()), note.path(), note.detail()});
  }
  report->fork_point = static_cast<ForkPoint>(message.fork_point());
  report->init_threads = static_cast<int>(message.init_threads());
  report->workers_run_init = message.workers_run_init();
  report->state_schema = message.state_schema();
  report->kept_state = message.kept_state();
  return true;
}

}  // namespace fnhost::internal
