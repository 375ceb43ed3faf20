// SnapshotFileWriter: collects a state's sections and writes them atomically as a snapshot file
// (format in src/snapshot/snapshot_file.h).
//
// Commit writes "<path>.tmp.<16 random hex digits>", fsyncs and closes it, renames it over
// `path` and fsyncs the directory. If anything fails before the rename, the temporary file is
// removed and `path` is untouched (an older snapshot there stays valid). If only the final
// directory fsync fails, the new snapshot is already in place but may not survive a crash; Commit
// then returns that error.
//
// Thread-safety: not thread-safe; one thread adds the sections and commits (the ABI runs
// state_snapshot on one thread).

#ifndef FNHOST_SRC_SNAPSHOT_SNAPSHOT_WRITER_H_
#define FNHOST_SRC_SNAPSHOT_SNAPSHOT_WRITER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "fnhost/abi.h"
#include "fnhost/snapshot.pb.h"
#include "src/common/file_system.h"

namespace fnhost {

class SnapshotFileWriter {
 public:
  // `fs` must outlive the writer.
  SnapshotFileWriter(FileSystem* fs, std::string path, snapshot::ModuleIdentity identity,
                     absl::Time created);
  SnapshotFileWriter(const SnapshotFileWriter&) = delete;
  SnapshotFileWriter& operator=(const SnapshotFileWriter&) = delete;

  // Copies a section. ALREADY_EXISTS if a section of that name was added before;
  // FAILED_PRECONDITION after Commit.
  absl::Status AddSection(std::string_view name, std::string_view bytes);

  // Writes the file. May be called once (this or CommitTo); FAILED_PRECONDITION on a second
  // call.
  absl::Status Commit();

  // Writes the snapshot into `file`, an empty file that the caller owns (a memfd, see
  // snapshot_memfd.h), instead of a file at the writer's path, which then only names it in
  // messages: no temporary file, no rename, no fsync. Leaves `file` open. Once, like Commit.
  absl::Status CommitTo(WritableFile* file);

  // The ABI view for state_snapshot: write_section calls AddSection and returns its status code.
  // Valid while this writer lives.
  fnhost_host_snapshot_writer AsAbi();

 private:
  // Sets the section offsets; `head` receives the encoded preamble and header, `data_start`
  // where the first section starts. Marks the writer committed.
  absl::Status Layout(std::string* head, uint64_t* data_start);
  // Writes the whole file to `temp_path` and closes it.
  absl::Status WriteFile(const std::string& temp_path, std::string_view head, uint64_t data_start);
  // Writes the head, the padding and the sections.
  absl::Status WriteContents(WritableFile* file, std::string_view head, uint64_t data_start);

  FileSystem* const fs_;
  const std::string path_;
  snapshot::SnapshotHeader header_;    // Section offsets are set by Commit.
  std::vector<std::string> contents_;  // Parallel to header_.section().
  absl::flat_hash_set<std::string> names_;
  bool committed_ = false;
};

}  // namespace fnhost

#endif  // FNHOST_SRC_SNAPSHOT_SNAPSHOT_WRITER_H_
