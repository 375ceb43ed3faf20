#include "src/isolation/worker_sandbox.h"

#include <utility>

namespace fnhost::internal {

absl::Status WorkerSandboxView::Start(int denials_fd, std::string_view ready_payload) {
  if (denials_fd >= 0) {
    absl::StatusOr<std::unique_ptr<sandbox::SandboxDenials>> page =
        sandbox::SandboxDenials::Map(denials_fd);
    if (!page.ok()) return absl::DataLossError(page.status().message());
    page_ = *std::move(page);
  }
  if (ready_payload.empty()) return absl::OkStatus();
  zygote::SandboxInForce in_force;
  if (!in_force.ParseFromArray(ready_payload.data(), static_cast<int>(ready_payload.size()))) {
    return absl::DataLossError("malformed sandbox report in the ready frame");
  }
  in_force_ = std::move(in_force);
  return absl::OkStatus();
}

std::vector<sandbox::DenialCount> WorkerSandboxView::TakeNewDenials() {
  std::vector<sandbox::DenialCount> fresh;
  if (page_ == nullptr) return fresh;
  const uint64_t total = page_->Total();
  if (total == seen_total_) return fresh;
  seen_total_ = total;
  for (sandbox::DenialCount& count : page_->Read()) {
    uint64_t& seen = seen_[count.syscall];
    if (count.count <= seen) continue;  // a module may rewrite its own page: never backwards
    const uint64_t added = count.count - seen;
    seen = count.count;
    count.count = added;
    fresh.push_back(std::move(count));
  }
  return fresh;
}

}  // namespace fnhost::internal
