#include "src/snapshot/snapshot_writer.h"

#include <openssl/rand.h>
#include <xxhash.h>

#include <filesystem>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/common/strings.h"
#include "src/snapshot/snapshot_file.h"

namespace fnhost {
namespace {

absl::StatusOr<std::string> TemporaryPath(const std::string& path) {
  unsigned char random[8];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError(
        absl::StrCat("SnapshotFileWriter: no random bytes for a temporary name next to ", path));
  }
  return absl::StrCat(path, ".tmp.",
                      absl::BytesToHexString(absl::string_view(
                          reinterpret_cast<const char*>(random), sizeof(random))));
}

std::string DirectoryOf(const std::string& path) {
  std::string directory = std::filesystem::path(path).parent_path().string();
  return directory.empty() ? "." : directory;
}

int32_t WriteSection(void* host_data, const char* name, size_t name_size, const void* data,
                     size_t size) {
  absl::Status status = static_cast<SnapshotFileWriter*>(host_data)->AddSection(
      std::string_view(name, name_size), std::string_view(static_cast<const char*>(data), size));
  return static_cast<int32_t>(status.code());
}

}  // namespace

SnapshotFileWriter::SnapshotFileWriter(FileSystem* fs, std::string path,
                                       snapshot::ModuleIdentity identity, absl::Time created)
    : fs_(fs), path_(std::move(path)) {
  header_.set_format_version(kSnapshotFormatVersion);
  *header_.mutable_module() = std::move(identity);
  header_.set_created_unix_seconds(absl::ToUnixSeconds(created));
}

absl::Status SnapshotFileWriter::AddSection(std::string_view name, std::string_view bytes) {
  if (committed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("SnapshotFileWriter::AddSection: snapshot ", path_, " is already committed"));
  }
  if (!names_.emplace(name).second) {
    return absl::AlreadyExistsError(absl::StrCat("SnapshotFileWriter::AddSection: snapshot ", path_,
                                                 " already has a section named '",
                                                 absl::CHexEscape(AsAbsl(name)), "'"));
  }
  snapshot::Section* section = header_.add_section();
  section->set_name(name.data(), name.size());
  section->set_size(bytes.size());
  section->set_xxh3(XXH3_64bits(bytes.data(), bytes.size()));
  contents_.emplace_back(bytes);
  return absl::OkStatus();
}

absl::Status SnapshotFileWriter::Layout(std::string* head, uint64_t* data_start) {
  if (committed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("SnapshotFileWriter::Commit: snapshot ", path_, " was already committed"));
  }
  committed_ = true;

  // The header holds the section offsets, and the offsets depend on the header's size (varints);
  // grow the space before the first section until the header fits. Converges in a step or two.
  *data_start = kSnapshotSectionAlignment;
  for (;;) {
    uint64_t offset = *data_start;
    for (snapshot::Section& section : *header_.mutable_section()) {
      section.set_offset(offset);
      offset = RoundUpToSectionAlignment(offset + section.size());
    }
    absl::StatusOr<std::string> encoded = EncodeSnapshotHeader(header_);
    if (!encoded.ok()) return encoded.status();
    *head = *std::move(encoded);
    if (RoundUpToSectionAlignment(head->size()) <= *data_start) return absl::OkStatus();
    *data_start = RoundUpToSectionAlignment(head->size());
  }
}

absl::Status SnapshotFileWriter::Commit() {
  std::string head;
  uint64_t data_start = 0;
  if (absl::Status status = Layout(&head, &data_start); !status.ok()) return status;
  absl::StatusOr<std::string> temp_path = TemporaryPath(path_);
  if (!temp_path.ok()) return temp_path.status();
  absl::Status status = WriteFile(*temp_path, head, data_start);
  if (status.ok()) status = fs_->Rename(*temp_path, path_);
  if (!status.ok()) {
    // Best effort: the first error is the one worth reporting.
    fs_->Remove(*temp_path).IgnoreError();
    return status;
  }
  return fs_->SyncDirectory(DirectoryOf(path_));
}

absl::Status SnapshotFileWriter::CommitTo(WritableFile* file) {
  std::string head;
  uint64_t data_start = 0;
  if (absl::Status status = Layout(&head, &data_start); !status.ok()) return status;
  return WriteContents(file, head, data_start);
}

absl::Status SnapshotFileWriter::WriteFile(const std::string& temp_path, std::string_view head,
                                           uint64_t data_start) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file = fs_->NewWritableFile(temp_path);
  if (!file.ok()) return file.status();
  absl::Status status = WriteContents(file->get(), head, data_start);
  if (status.ok()) status = (*file)->Sync();
  // Close even after a failure, so that the descriptor is not held until the destructor.
  absl::Status close_status = (*file)->Close();
  return status.ok() ? close_status : status;
}

absl::Status SnapshotFileWriter::WriteContents(WritableFile* file, std::string_view head,
                                               uint64_t data_start) {
  absl::Status status = file->Append(head);
  if (status.ok()) status = file->AppendZeros(data_start - head.size());
  for (size_t i = 0; status.ok() && i < contents_.size(); ++i) {
    status = file->Append(contents_[i]);
    if (status.ok()) {
      status = file->AppendZeros(RoundUpToSectionAlignment(contents_[i].size()) -
                                 contents_[i].size());
    }
  }
  return status;
}

fnhost_host_snapshot_writer SnapshotFileWriter::AsAbi() {
  return fnhost_host_snapshot_writer{this, &WriteSection};
}

}  // namespace fnhost
