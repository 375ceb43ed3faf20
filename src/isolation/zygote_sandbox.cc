#include "src/isolation/zygote_sandbox.h"

#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"
#include "src/isolation/sandbox_config.h"

namespace fnhost::internal {
namespace {

// The directories of every object the dynamic loader has loaded into this process (the
// module's dependencies among them, wherever its RUNPATH found them): a worker may still load
// from there (a library's plugins, glibc's gconv modules). The module itself, loaded from a
// sealed memfd (/proc/self/fd/N), and the vDSO have none.
std::vector<std::string> LoadedObjectDirectories() {
  std::vector<std::string> directories;
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* out = static_cast<std::vector<std::string>*>(data);
        const std::string name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        if (name.empty() || name[0] != '/' || name.rfind("/proc/", 0) == 0) return 0;
        std::string directory = std::filesystem::path(name).parent_path().string();
        if (std::find(out->begin(), out->end(), directory) == out->end()) {
          out->push_back(std::move(directory));
        }
        return 0;
      },
      &directories);
  return directories;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ZygoteSandbox>> ZygoteSandbox::Create(
    const zygote::SandboxConfig& config, const std::string& function,
    const std::string& module_path, bool enter_network) {
  const sandbox::SandboxSupport support = SupportOf(config.support());
  absl::StatusOr<sandbox::ValidatedPolicy> policy =
      sandbox::ValidateSandboxPolicy(function, OptionsOf(config));
  if (!policy.ok()) return policy.status();
  std::unique_ptr<ZygoteSandbox> made(new ZygoteSandbox());
  made->memory_limit_bytes_ = policy->policy.memory_limit_bytes;
  sandbox::SandboxContext context;
  context.function_name = function;
  context.module_path = module_path;
  context.dependency_dirs = LoadedObjectDirectories();
  absl::StatusOr<std::unique_ptr<sandbox::PreparedSandbox>> prepared =
      sandbox::PreparedSandbox::Prepare(*policy, context, support);
  if (!prepared.ok()) return prepared.status();
  made->prepared_ = *std::move(prepared);
  // After the Landlock rules' descriptors are open, so that they lie below the floor of the
  // held control files (held_files.h), which workers close; before the network: a user
  // namespace (unprivileged hosts) would not leave the cgroup directories writable.
  const sandbox::CgroupLimits limits{policy->policy.memory_limit_bytes, policy->policy.pids_limit};
  if (limits.memory_bytes > 0 || limits.pids > 0) {
    absl::StatusOr<std::unique_ptr<sandbox::WorkerCgroups>> cgroups =
        sandbox::WorkerCgroups::Create(function, limits, support);
    if (!cgroups.ok()) return PrefixFunction(function, cgroups.status());
    if ((*cgroups)->limits_memory() || (*cgroups)->limits_pids()) {
      made->cgroups_ = *std::move(cgroups);
      made->PrepareNext();
      if (!made->next_.ok()) return PrefixFunction(function, made->next_.status());
    }
  }
  if (enter_network) {
    if (absl::Status status = made->prepared_->EnterInZygote(); !status.ok()) return status;
  }
  return made;
}

ZygoteSandbox::~ZygoteSandbox() {
  if (cgroups_ == nullptr) return;
  cgroups_->ReturnToParentCgroups().IgnoreError();  // else the directories stay until a sweep
  if (next_.ok()) cgroups_->Release(*next_);
}

void ZygoteSandbox::PrepareNext() {
  next_ = cgroups_->PrepareWorker();
  if (!next_.ok()) return;
  if (absl::Status joined = sandbox::JoinCgroups(*next_); !joined.ok()) {
    cgroups_->Release(*next_);
    next_ = joined;
  }
}

absl::StatusOr<ZygoteSandbox::ForWorker> ZygoteSandbox::BeforeFork() {
  ForWorker worker;
  worker.prepared_ = prepared_.get();
  worker.memory_limit_bytes_ = memory_limit_bytes_;
  if (cgroups_ != nullptr) {
    if (!next_.ok()) PrepareNext();  // it failed after the last spawn: once more
    if (!next_.ok()) {
      // Not in a worker's cgroups any more, whatever happened.
      cgroups_->ReturnToParentCgroups().IgnoreError();
      return absl::FailedPreconditionError(
          absl::StrCat("no cgroups for a new worker: ", next_.status().message()));
    }
    worker.cgroups_ = *next_;  // born in them: nothing left to join
    worker.descriptor_floor_ = cgroups_->descriptor_floor();
  }
  absl::StatusOr<std::unique_ptr<sandbox::SandboxDenials>> denials =
      sandbox::SandboxDenials::Create();
  if (!denials.ok()) return denials.status();
  worker.denials_ = *std::move(denials);
  if (!prediction_.has_value()) {
    sandbox::WorkerResources resources;
    resources.cgroups = worker.cgroups_.has_value() ? &*worker.cgroups_ : nullptr;
    resources.denials = worker.denials_->page();
    Prediction prediction;
    prediction.report = prepared_->PredictReport(resources);
    prediction.payload = InForceOf(prediction.report, memory_limit_bytes_).SerializeAsString();
    prediction_ = std::move(prediction);
  }
  worker.prediction_ = &*prediction_;
  return worker;
}

void ZygoteSandbox::AfterSpawn(pid_t pid) {
  if (cgroups_ == nullptr || pid <= 0) return;
  tickets_.emplace(pid, *std::move(next_));
  PrepareNext();
}

void ZygoteSandbox::AfterReap(pid_t pid, zygote::Exited* exited) {
  auto it = tickets_.find(pid);
  if (it == tickets_.end()) return;
  const sandbox::CgroupExit seen = cgroups_->Release(it->second);
  tickets_.erase(it);
  exited->set_oom_killed(seen.oom_killed);
  exited->set_forks_refused(seen.forks_refused);
  exited->set_peak_memory_bytes(seen.peak_memory_bytes);
}

absl::Status ZygoteSandbox::ForWorker::Apply(InForce* in_force) {
  // The page stays mapped; the worker keeps no descriptor but its channel.
  ::close(denials_->fd());
  sandbox::WorkerResources resources;
  resources.cgroups = cgroups_.has_value() ? &*cgroups_ : nullptr;
  resources.denials = denials_->page();
  sandbox::SandboxReport report;
  absl::Status status = prepared_->ApplyInWorker(resources, &report);
  if (!status.ok()) return status;
  if (prediction_ != nullptr && report == prediction_->report) {
    in_force->predicted = &prediction_->payload;
  } else {
    in_force->built = InForceOf(report, memory_limit_bytes_).SerializeAsString();
  }
  if (report.memory == sandbox::MemoryLimit::kAddressSpace) {
    in_force->address_space_limit_bytes = memory_limit_bytes_;
  }
  return absl::OkStatus();
}

}  // namespace fnhost::internal
