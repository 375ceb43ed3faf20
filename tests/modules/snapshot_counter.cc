// A module with snapshot support and a state derived from its init config, so tests can tell
// a restored state from a fresh one. Init config: a decimal entry count N (empty: 1000); the
// state is a table of N uint64 values, table[i] = i * i, written to the snapshot as section
// "table". A restored state reads the table in place from the section (no copy). Every call
// replies "origin=<init|restore> after_restore=<count> entries=<N> sum=<sum of the table>",
// where count is how many times AfterRestore ran on this state.
// Errors: a bad init config gives INVALID_ARGUMENT; a missing section NOT_FOUND; a section
// whose size is not a multiple of 8 DATA_LOSS.
#include <charconv>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "fnhost/module.h"

namespace {

using fnhost::sdk::Status;

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    std::string_view config = context.init_config();
    size_t entries = 1000;
    if (!config.empty()) {
      auto [end, error] = std::from_chars(config.data(), config.data() + config.size(), entries);
      if (error != std::errc() || end != config.data() + config.size()) {
        return fnhost::sdk::InvalidArgumentError(
            "snapshot_counter: init config must be an entry count, got '" +
            std::string(config) + "'");
      }
    }
    auto fresh = std::make_unique<State>("init");
    fresh->owned_.resize(entries);
    for (size_t i = 0; i < entries; ++i) fresh->owned_[i] = uint64_t{i} * i;
    fresh->table_ = fresh->owned_;
    *state = std::move(fresh);
    return Status::Ok();
  }

  static Status Restore(const fnhost::sdk::InitContext&, const fnhost::sdk::SnapshotReader& reader,
                        std::unique_ptr<State>* state) {
    fnhost::sdk::Section section;
    Status status = reader.FindSection("table", &section);
    if (!status.ok()) return status;
    if (section.size % sizeof(uint64_t) != 0) {
      return Status(fnhost::sdk::StatusCode::kDataLoss,
                    "snapshot_counter: section 'table' has " + std::to_string(section.size) +
                        " bytes, not a multiple of 8");
    }
    auto restored = std::make_unique<State>("restore");
    restored->table_ = {section.as<uint64_t>(), section.size / sizeof(uint64_t)};
    *state = std::move(restored);
    return Status::Ok();
  }

  Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const {
    return writer.WriteSection("table", table_.data(), table_.size_bytes());
  }

  Status AfterRestore(const fnhost::sdk::InitContext&) {
    ++after_restore_count_;
    return Status::Ok();
  }

  explicit State(const char* origin) : origin_(origin) {}

  std::string Describe() const {
    return std::string("origin=") + origin_ +
           " after_restore=" + std::to_string(after_restore_count_) +
           " entries=" + std::to_string(table_.size()) +
           " sum=" + std::to_string(std::accumulate(table_.begin(), table_.end(), uint64_t{0}));
  }

 private:
  const char* origin_;
  int after_restore_count_ = 0;
  std::vector<uint64_t> owned_;     // the table of a state built by Create
  std::span<const uint64_t> table_;  // owned_, or the restored section
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}
  Status Invoke(std::string_view, fnhost::sdk::Response& response) {
    response.Write(state_.Describe());
    return Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "snapshot_counter", "1.0.0")
