// The behaviour module of examples/game_server: each call is one tick for a batch of entities.
// An entity walks in one of eight directions (or rests) for a few ticks, then picks another
// with its own random generator, and turns back at the world's edges. What it remembers from
// tick to tick (generator, heading, steps left) is the State's per-entity memory; the moves go
// to the game through the `world` host service (world_service.h): the typed form when the host
// gives it (in process), else one "move_batch" CallHost per tick (under process isolation).
//
// Init config: "<entities> <seed>" (decimal; without a seed, 0). The State declares
// kStateSchema, so a reload to a build of the same schema hands the memory over (State::Restore)
// and the game goes on as if nothing happened; a build of another schema starts afresh.
// Built as behaviour.so, behaviour_next.so (another version, same schema) and
// behaviour_schema2.so (BEHAVIOUR_STATE_SCHEMA 2).
#include <charconv>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "examples/game_server/world_service.h"
#include "fnhost/module.h"

#ifndef BEHAVIOUR_STATE_SCHEMA
#define BEHAVIOUR_STATE_SCHEMA 1
#endif
#ifndef BEHAVIOUR_VERSION
#define BEHAVIOUR_VERSION "1.0.0"
#endif

namespace {

using fnhost::sdk::Status;
using fnhost::sdk::StatusCode;

// One entity's memory, as it lies in the snapshot section "entities".
struct EntityMemory {
  uint32_t random = 0;
  uint8_t heading = 0;  // 0-7: a direction; 8: rest
  uint8_t steps_left = 0;
  uint16_t turns = 0;
};
static_assert(sizeof(EntityMemory) == 8);

constexpr int kDx[9] = {1, 1, 0, -1, -1, -1, 0, 1, 0};
constexpr int kDy[9] = {0, 1, 1, 1, 0, -1, -1, -1, 0};
constexpr uint8_t kRest = 8;

uint32_t NextRandom(uint32_t x) {  // xorshift32: never 0 from a non-zero seed
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

// This tick's move of one entity at `at`, and what it remembers for the next.
game_world_move Decide(uint32_t entity, const game_position& at, const game_tick_header& world,
                       EntityMemory& memory) {
  if (memory.steps_left == 0) {
    memory.random = NextRandom(memory.random);
    memory.heading = static_cast<uint8_t>(memory.random % 9);
    memory.steps_left = static_cast<uint8_t>(4 + (memory.random >> 8) % 28);
    ++memory.turns;
  }
  --memory.steps_left;
  if (memory.heading == kRest) return {entity, 0, 0};
  const int speed = 1 + memory.turns % 3;
  auto outside = [&](int dx, int dy) {
    const int64_t x = int64_t{at.x} + dx * speed, y = int64_t{at.y} + dy * speed;
    return x < 0 || y < 0 || x >= world.width || y >= world.height;
  };
  if (outside(kDx[memory.heading], kDy[memory.heading])) {
    memory.heading = static_cast<uint8_t>((memory.heading + 4) % 8);  // turn back
  }
  return {entity, static_cast<int16_t>(kDx[memory.heading] * speed),
          static_cast<int16_t>(kDy[memory.heading] * speed)};
}

class State {
 public:
  static constexpr uint32_t kStateSchema = BEHAVIOUR_STATE_SCHEMA;

  State(fnhost::sdk::Service world, std::vector<EntityMemory> memory)
      : world_(std::move(world)), memory_(std::move(memory)) {}

  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    uint32_t entities = 0, seed = 0;
    std::string_view config = context.init_config();
    const char* end = config.data() + config.size();
    auto parsed = std::from_chars(config.data(), end, entities);
    if (parsed.ec == std::errc() && parsed.ptr != end && *parsed.ptr == ' ') {
      parsed = std::from_chars(parsed.ptr + 1, end, seed);
    }
    if (parsed.ec != std::errc() || parsed.ptr != end || entities == 0) {
      return fnhost::sdk::InvalidArgumentError("behaviour: init config '" + std::string(config) +
                                               "' is not '<entities> <seed>'");
    }
    std::vector<EntityMemory> memory(entities);
    for (uint32_t i = 0; i < entities; ++i) {
      memory[i].random = NextRandom((seed + i) * 2654435761u | 1u);
    }
    return Build(context, std::move(memory), state);
  }

  static Status Restore(const fnhost::sdk::InitContext& context,
                        const fnhost::sdk::SnapshotReader& reader, std::unique_ptr<State>* state) {
    fnhost::sdk::Section section;
    if (Status found = reader.FindSection("entities", &section); !found.ok()) return found;
    if (section.size == 0 || section.size % sizeof(EntityMemory) != 0) {
      return Status(StatusCode::kDataLoss, "behaviour: section 'entities' of " +
                                               std::to_string(section.size) +
                                               " bytes is not a whole number of entities");
    }
    std::vector<EntityMemory> memory(section.size / sizeof(EntityMemory));
    std::memcpy(memory.data(), section.data, section.size);
    return Build(context, std::move(memory), state);
  }

  Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return writer.WriteSection("entities", memory_.data(),
                               memory_.size() * sizeof(EntityMemory));
  }

  // One tick: decides every entity's move, sends the moves to the world, and writes how many.
  Status Tick(std::string_view request, fnhost::sdk::Response& response,
              fnhost::sdk::CallContext& context) const {
    game_tick_header header;
    if (request.size() < sizeof(header)) {
      return fnhost::sdk::InvalidArgumentError("behaviour: a tick request needs a header");
    }
    std::memcpy(&header, request.data(), sizeof(header));
    std::lock_guard<std::mutex> lock(mutex_);
    if (request.size() != sizeof(header) + size_t{header.count} * sizeof(game_position) ||
        uint64_t{header.first_entity} + header.count > memory_.size()) {
      return fnhost::sdk::InvalidArgumentError(
          "behaviour: a tick of " + std::to_string(request.size()) + " bytes for entities from " +
          std::to_string(header.first_entity) + " does not fit " +
          std::to_string(memory_.size()) + " entities");
    }
    const char* positions = request.data() + sizeof(header);
    auto typed = world_.typed<game_world_v1>();
    batch_.clear();
    uint32_t moves = 0;
    for (uint32_t i = 0; i < header.count; ++i) {
      game_position at;
      std::memcpy(&at, positions + i * sizeof(at), sizeof(at));
      const uint32_t entity = header.first_entity + i;
      const game_world_move move = Decide(entity, at, header, memory_[entity]);
      if (move.dx == 0 && move.dy == 0) continue;
      ++moves;
      if (!typed) {
        batch_.append(reinterpret_cast<const char*>(&move), sizeof(move));
      } else if (typed->move(typed.data(), entity, move.dx, move.dy) != FNHOST_STATUS_OK) {
        return Status(StatusCode::kOutOfRange,
                      "behaviour: the world has no entity " + std::to_string(entity));
      }
    }
    if (!typed) {
      auto sent = context.CallHost(world_, GAME_WORLD_METHOD_MOVE_BATCH, batch_);
      if (!sent.ok()) return sent.status();
    }
    return response.Write(std::string_view(reinterpret_cast<const char*>(&moves), sizeof(moves)))
               ? Status::Ok()
               : fnhost::sdk::ResourceExhaustedError("behaviour: no room for the response");
  }

 private:
  static Status Build(const fnhost::sdk::InitContext& context, std::vector<EntityMemory> memory,
                      std::unique_ptr<State>* state) {
    auto world = context.RequireService(GAME_WORLD_SERVICE, GAME_WORLD_SERVICE_VERSION,
                                        fnhost::sdk::ServiceForms::kAny);
    if (!world.ok()) return world.status();
    *state = std::make_unique<State>(*std::move(world), std::move(memory));
    return Status::Ok();
  }

  const fnhost::sdk::Service world_;
  // The live memory: calls change it through the const State the SDK shares between
  // instances, one call at a time under mutex_ (the game runs one instance; the lock keeps
  // any other host correct too).
  mutable std::mutex mutex_;
  mutable std::vector<EntityMemory> memory_;
  mutable std::string batch_;  // the bytes form's moves, capacity kept from tick to tick
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}
  Status Invoke(std::string_view request, fnhost::sdk::Response& response,
                fnhost::sdk::CallContext& context) {
    return state_.Tick(request, response, context);
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "behaviour", BEHAVIOUR_VERSION)
