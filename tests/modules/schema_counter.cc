// A module whose State declares kStateSchema 7, for reloads that keep state. Init config: the
// starting count (decimal; empty: 0). The state is that count, written to the snapshot as
// section "count" (8 bytes). Every call replies "origin=<create|restore|reload> count=N", where
// reload means State::Restore saw InitContext::reloading().
#include <charconv>
#include <cstring>
#include <string>

#include "fnhost/module.h"

namespace {

using fnhost::sdk::Status;

class State {
 public:
  static constexpr uint32_t kStateSchema = 7;

  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    uint64_t count = 0;
    std::string_view config = context.init_config();
    std::from_chars(config.data(), config.data() + config.size(), count);
    *state = std::make_unique<State>("create", count);
    return Status::Ok();
  }
  static Status Restore(const fnhost::sdk::InitContext& context,
                        const fnhost::sdk::SnapshotReader& reader, std::unique_ptr<State>* state) {
    fnhost::sdk::Section section;
    Status found = reader.FindSection("count", &section);
    if (!found.ok()) return found;
    if (section.size != sizeof(uint64_t)) {
      return Status(fnhost::sdk::StatusCode::kDataLoss, "section 'count' is not 8 bytes");
    }
    *state = std::make_unique<State>(context.reloading() ? "reload" : "restore",
                                     *section.as<uint64_t>());
    return Status::Ok();
  }
  Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const {
    return writer.WriteSection("count", &count_, sizeof(count_));
  }

  State(std::string origin, uint64_t count) : origin_(std::move(origin)), count_(count) {}
  std::string Describe() const {
    return "origin=" + origin_ + " count=" + std::to_string(count_);
  }

 private:
  std::string origin_;
  uint64_t count_;
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

FNHOST_MODULE(State, Instance, "schema_counter", "1.0.0")
