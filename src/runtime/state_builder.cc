#include "src/runtime/state_builder.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "src/common/function_error.h"
#include "src/common/strings.h"
#include "src/runtime/abi_glue.h"
#include "src/snapshot/snapshot_memfd.h"
#include "src/snapshot/snapshot_writer.h"
#include "src/snapshot/state_snapshots.h"

namespace fnhost::internal {
namespace {

// What a reload's in-memory snapshot says it holds: the sections of a state of `schema`, not
// a module's. Both ends of a reload compute it; it never reaches a file.
snapshot::ModuleIdentity ReloadIdentity(uint32_t schema) {
  snapshot::ModuleIdentity identity;
  identity.set_module_name("(live state of a reloaded version)");
  identity.set_module_version(absl::StrCat("state schema ", schema));
  identity.set_abi_version(FNHOST_ABI_VERSION);
  return identity;
}

constexpr char kReloadSnapshotName[] = "(live state of the replaced version)";

// A failed step's status with the module's message, if it left one.
absl::Status WithModuleMessage(absl::StatusCode code, std::string message,
                               const CallOutput& error) {
  if (!error.error_message().empty()) absl::StrAppend(&message, ": ", error.error_message());
  return absl::Status(code, message);
}

// Has the module add its sections to `writer`.
absl::Status CollectSections(const fnhost_module_v1& table, const fnhost_module_state* state,
                             std::string_view function, SnapshotFileWriter& writer) {
  fnhost_host_snapshot_writer raw = writer.AsAbi();
  CallOutput error(nullptr);
  const int32_t code = table.state_snapshot(state, &raw, error.raw());
  return error.ToStatus(code, function, "state snapshot");
}

}  // namespace

StateBuilder::StateBuilder(runtime::ModuleConfig config, Clock& clock, FileSystem& fs,
                           SnapshotEvents* events, InitHost* init_host)
    : config_(std::move(config)), clock_(clock), fs_(fs), events_(events), init_host_(init_host) {}

StateBuilder::~StateBuilder() = default;

absl::Status StateBuilder::Load(LoadTimings* timings) {
  LoadOptions options;
  options.allow_writable = config_.allow_writable_modules();
  options.sha256 = config_.sha256();
  absl::StatusOr<std::unique_ptr<LoadedModule>> module =
      LoadedModule::Load(function(), config_.module_path(), options, clock_, timings);
  if (!module.ok()) return module.status();
  const int declared = static_cast<int>((*module)->table().max_concurrency_per_instance);
  const int wanted = config_.max_concurrency_per_instance();
  if (wanted > declared) {
    return absl::FailedPreconditionError(FunctionMessage(
        function(), "max_concurrency_per_instance ", wanted, " but module ",
        config_.module_path(), " declares that an instance serves at most ", declared,
        " call(s) at once"));
  }
  module_ = *std::move(module);
  concurrency_ = wanted > 0 ? wanted : declared;
  return absl::OkStatus();
}

bool StateBuilder::snapshots() const {
  return config_.use_snapshots() && module_->supports_snapshots();
}

absl::StatusOr<StateBuilder::Built> StateBuilder::Build() {
  if (KeepsReloadState()) return BuildFromReloadSource();
  const absl::Time start = clock_.Now();
  if (snapshots() && !config_.snapshot_dir().empty()) {
    if (fnhost_module_state* state = RestoreFromDirectory(); state != nullptr) {
      return Built{.state = state, .restored = true, .duration = clock_.Now() - start};
    }
  }
  const absl::Time init_start = clock_.Now();
  absl::StatusOr<fnhost_module_state*> state = Init();
  if (!state.ok()) return state.status();
  return Built{.state = *state, .restored = false, .duration = clock_.Now() - init_start};
}

bool StateBuilder::KeepsReloadState() const {
  return reload_fd_ >= 0 && reload_schema_ != 0 && table().state_schema == reload_schema_ &&
         module_->supports_snapshots();
}

bool StateBuilder::MapReloadSource(absl::Status* status) {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      OpenSealedMemfd(reload_fd_, kReloadSnapshotName, ReloadIdentity(reload_schema_));
  if (!mapped.ok()) {
    *status = PrefixFunction(function(), mapped.status());
    return false;
  }
  snapshot_ = *std::move(mapped);
  restore_flags_ = FNHOST_INIT_FLAG_RELOAD;
  return true;
}

absl::StatusOr<StateBuilder::Built> StateBuilder::BuildFromReloadSource() {
  const absl::Time start = clock_.Now();
  absl::Status status;
  if (!MapReloadSource(&status)) return status;
  absl::StatusOr<fnhost_module_state*> state = Restore(*snapshot_);
  if (!state.ok()) {
    snapshot_.reset();
    return absl::Status(state.status().code(),
                        FunctionMessage(function(), "reload keeping state (schema ",
                                        reload_schema_, ") of module ", config_.module_path(),
                                        ": ", state.status().message()));
  }
  return Built{.state = *state, .restored = true, .kept_state = true,
               .duration = clock_.Now() - start};
}

absl::StatusOr<int> StateBuilder::WriteReloadSnapshot(const fnhost_module_state* state) const {
  SnapshotFileWriter writer(&fs_, kReloadSnapshotName, ReloadIdentity(table().state_schema),
                            clock_.WallNow());
  if (absl::Status status = CollectSections(table(), state, function(), writer); !status.ok()) {
    return status;
  }
  return CommitToSealedMemfd(writer, kReloadSnapshotName);
}

fnhost_module_state* StateBuilder::RestoreFromDirectory() {
  if (absl::Status status = ComputeIdentity(); !status.ok()) {
    Report(SnapshotEventKind::kRejected, "", AsStd(status.message()));
    return nullptr;
  }
  if (!MapDirectorySnapshot()) return nullptr;
  absl::StatusOr<fnhost_module_state*> state = Restore(*snapshot_);
  if (!state.ok()) {
    Report(SnapshotEventKind::kRejected, snapshot_path_, AsStd(state.status().message()));
    snapshot_.reset();
    return nullptr;
  }
  Report(SnapshotEventKind::kRestored, snapshot_path_, "");
  return *state;
}

absl::StatusOr<fnhost_module_state*> StateBuilder::Init() const {
  CallOutput error(nullptr);
  const InitStep step(function(), config_.init_config(), 0, init_host_, error);
  fnhost_module_state* state = nullptr;
  const int32_t code = table().state_create(step.raw(), &state);
  if (code == FNHOST_STATUS_OK) return state;
  const absl::Status status = error.ToStatus(code, function(), "state init");
  return absl::Status(status.code(), absl::StrCat(status.message(), " (module ",
                                                   config_.module_path(), ")"));
}

absl::StatusOr<fnhost_module_state*> StateBuilder::Restore(const MappedSnapshot& snapshot) const {
  CallOutput error(nullptr);
  const InitStep step(function(), config_.init_config(), restore_flags_, init_host_, error);
  const fnhost_host_snapshot_reader reader = snapshot.AsAbi();
  fnhost_module_state* state = nullptr;
  int32_t code = table().state_restore(step.raw(), &reader, &state);
  if (code != FNHOST_STATUS_OK) {
    return WithModuleMessage(static_cast<absl::StatusCode>(code),
                             absl::StrCat("state_restore from ", snapshot.path(), " failed"),
                             error);
  }
  if (table().state_after_restore != nullptr) {
    code = table().state_after_restore(state, step.raw());
    if (code != FNHOST_STATUS_OK) {
      table().state_destroy(state);
      return WithModuleMessage(
          static_cast<absl::StatusCode>(code),
          absl::StrCat("state_after_restore after ", snapshot.path(), " failed"), error);
    }
  }
  return state;
}

absl::Status StateBuilder::AfterFork(fnhost_module_state* state) const {
  if (table().state_after_restore == nullptr) return absl::OkStatus();
  CallOutput error(nullptr);
  const InitStep step(function(), config_.init_config(), 0, init_host_, error);
  const int32_t code = table().state_after_restore(state, step.raw());
  return error.ToStatus(code, function(), "state after restore");
}

absl::Status StateBuilder::ComputeIdentity() {
  if (identity_known_) return absl::OkStatus();
  const std::string& directory = config_.snapshot_dir();
  absl::StatusOr<snapshot::ModuleIdentity> identity = IdentityOf(
      *module_, config_.init_config(),
      TrustedModuleHashCache(directory, config_.trust_private_snapshot_dir(), clock_.WallNow()));
  if (!identity.ok()) return identity.status();
  identity_ = *std::move(identity);
  identity_known_ = true;
  if (!directory.empty()) snapshot_path_ = SnapshotPath(directory, function(), identity_);
  return absl::OkStatus();
}

bool StateBuilder::MapDirectorySnapshot() {
  if (snapshot_path_.empty()) return false;
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      OpenStateSnapshot(snapshot_path_, identity_, config_.trust_private_snapshot_dir());
  if (!mapped.ok()) {
    if (!absl::IsNotFound(mapped.status())) {
      Report(SnapshotEventKind::kRejected, snapshot_path_, AsStd(mapped.status().message()));
    }
    return false;
  }
  snapshot_ = *std::move(mapped);
  restore_flags_ = 0;
  return true;
}

bool StateBuilder::MapMemfdSnapshot(int fd) {
  absl::StatusOr<std::unique_ptr<MappedSnapshot>> mapped =
      OpenSealedMemfd(fd, kMemfdSnapshotName, identity_);
  if (!mapped.ok()) {
    Report(SnapshotEventKind::kRejected, kMemfdSnapshotName, AsStd(mapped.status().message()));
    return false;
  }
  snapshot_ = *std::move(mapped);
  restore_flags_ = 0;
  return true;
}

bool StateBuilder::ShouldWriteSnapshot() const {
  return !snapshot_path_.empty() && snapshot_ == nullptr;
}

absl::Status StateBuilder::WriteSnapshotTo(const fnhost_module_state* state,
                                           const std::string& path) {
  absl::Status status = fs_.CreateDirectories(std::filesystem::path(path).parent_path().string());
  if (status.ok()) {
    SnapshotFileWriter writer(&fs_, path, identity_, clock_.WallNow());
    status = CollectSections(table(), state, function(), writer);
    if (status.ok()) status = writer.Commit();
  }
  Report(status.ok() ? SnapshotEventKind::kWritten : SnapshotEventKind::kWriteFailed, path,
         AsStd(status.message()));
  return status;
}

absl::StatusOr<int> StateBuilder::WriteSnapshotToMemfd(const fnhost_module_state* state) {
  absl::StatusOr<int> fd = CommitToMemfd(state);
  Report(fd.ok() ? SnapshotEventKind::kWritten : SnapshotEventKind::kWriteFailed,
         kMemfdSnapshotName, fd.ok() ? "" : AsStd(fd.status().message()));
  return fd;
}

absl::StatusOr<int> StateBuilder::CommitToMemfd(const fnhost_module_state* state) {
  if (absl::Status status = ComputeIdentity(); !status.ok()) return status;
  SnapshotFileWriter writer(&fs_, kMemfdSnapshotName, identity_, clock_.WallNow());
  if (absl::Status status = CollectSections(table(), state, function(), writer); !status.ok()) {
    return status;
  }
  return CommitToSealedMemfd(writer, kMemfdSnapshotName);
}

UnloadReport StateBuilder::Unload(fnhost_module_state* state) {
  if (state != nullptr) table().state_destroy(state);
  snapshot_.reset();  // after the state: its views pointed into the mapping
  restore_flags_ = 0;
  UnloadReport report = module_->Unload();
  module_.reset();
  // A later Load may find another file at the path.
  identity_known_ = false;
  snapshot_path_.clear();
  return report;
}

void StateBuilder::Report(SnapshotEventKind kind, std::string_view path,
                          std::string_view detail) const {
  if (events_ != nullptr) events_->OnSnapshotEvent(kind, path, detail);
}

}  // namespace fnhost::internal
