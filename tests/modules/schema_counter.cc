// A module whose State declares kStateSchema 7 (FNHOST_SCHEMA_COUNTER_SCHEMA when defined), for
// reloads that keep state. Init config: the starting count (decimal; empty: 0). The state is
// that count, which "bump" requests raise (the state's live memory a reload must carry), written
// to the snapshot as section "count" (8 bytes). Every other call replies
// "origin=<create|restore|reload> count=N", where reload means State::Restore saw
// InitContext::reloading(). Built with FNHOST_SCHEMA_COUNTER_FAILS_RELOAD, its Restore refuses
// a reload.
#include <atomic>
#include <charconv>
#include <cstring>
#include <string>

#include "fnhost/module.h"

#ifndef FNHOST_SCHEMA_COUNTER_SCHEMA
#define FNHOST_SCHEMA_COUNTER_SCHEMA 7
#endif

namespace {

using fnhost::sdk::Status;

class State {
 public:
  static constexpr uint32_t kStateSchema = FNHOST_SCHEMA_COUNTER_SCHEMA;

  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    uint64_t count = 0;
    std::string_view config = context.init_config();
    std::from_chars(config.data(), config.data() + config.size(), count);
    *state = std::make_unique<State>("create", count);
    return Status::Ok();
  }
  static Status Restore(const fnhost::sdk::InitContext& context,
                        const fnhost::sdk::SnapshotReader& reader, std::unique_ptr<State>* state) {
#ifdef FNHOST_SCHEMA_COUNTER_FAILS_RELOAD
    if (context.reloading()) {
      return Status(fnhost::sdk::StatusCode::kDataLoss, "this build refuses reloads");
    }
#endif
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
    const uint64_t count = count_.load();
    return writer.WriteSection("count", &count, sizeof(count));
  }

  State(std::string origin, uint64_t count) : origin_(std::move(origin)), count_(count) {}
  // The live part of the state: calls change it (instances serve one call at a time here).
  void Bump() const { count_.fetch_add(1); }
  std::string Describe() const {
    return "origin=" + origin_ + " count=" + std::to_string(count_.load());
  }

 private:
  std::string origin_;
  mutable std::atomic<uint64_t> count_;
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}
  Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "bump") state_.Bump();
    response.Write(state_.Describe());
    return Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "schema_counter", "1.0.0")
