// What a state sees of snapshots: SnapshotWriter collects named sections while the state is
// written, SnapshotReader hands a restoring state its sections as read-only views.
//
// Part of the module SDK (fnhost/module.h). Both are valid only during the step they were
// passed to (State::Snapshot, State::Restore); a Section's bytes stay valid for the restored
// state's lifetime. One thread at a time.

#ifndef FNHOST_SDK_SNAPSHOT_H_
#define FNHOST_SDK_SNAPSHOT_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "fnhost/abi.h"
#include "fnhost/sdk/status.h"

namespace fnhost::sdk {

// Collects named sections while a state writes its snapshot. Bytes are copied on each call.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(const fnhost_host_snapshot_writer* raw) : raw_(raw) {}

  Status WriteSection(std::string_view name, const void* data, size_t size) {
    int32_t code = raw_->write_section(raw_->host_data, name.data(), name.size(), data, size);
    if (code == FNHOST_STATUS_OK) return Status::Ok();
    return Status(static_cast<StatusCode>(code),
                  "snapshot section '" + std::string(name) + "' could not be written");
  }
  Status WriteSection(std::string_view name, std::string_view bytes) {
    return WriteSection(name, bytes.data(), bytes.size());
  }

 private:
  const fnhost_host_snapshot_writer* raw_;
};

// A read-only, 64-byte-aligned view of a restored section; valid for the state's lifetime.
struct Section {
  const void* data = nullptr;
  size_t size = 0;

  std::string_view bytes() const { return {static_cast<const char*>(data), size}; }
  template <typename T>
  const T* as() const {
    return static_cast<const T*>(data);
  }
};

class SnapshotReader {
 public:
  explicit SnapshotReader(const fnhost_host_snapshot_reader* raw) : raw_(raw) {}

  // Finds a section by name; NOT_FOUND if the snapshot has none of that name.
  Status FindSection(std::string_view name, Section* section) const {
    int32_t code =
        raw_->find_section(raw_->host_data, name.data(), name.size(), &section->data,
                           &section->size);
    if (code == FNHOST_STATUS_OK) return Status::Ok();
    return Status(static_cast<StatusCode>(code),
                  "snapshot has no section '" + std::string(name) + "'");
  }

 private:
  const fnhost_host_snapshot_reader* raw_;
};

}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_SNAPSHOT_H_
