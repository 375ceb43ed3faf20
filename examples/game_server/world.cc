#include "examples/game_server/world.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "fnhost/abi.h"

namespace game {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

}  // namespace

World::World(uint32_t entities, int32_t width, int32_t height, uint64_t seed)
    : width_(width), height_(height), positions_(entities) {
  for (uint32_t i = 0; i < entities; ++i) {
    const uint64_t random = SplitMix64(seed * 1000003u + i);
    positions_[i].x = static_cast<int32_t>((random & 0xffffffffu) % static_cast<uint32_t>(width));
    positions_[i].y = static_cast<int32_t>((random >> 32) % static_cast<uint32_t>(height));
  }
}

bool World::Move(uint32_t entity, int32_t dx, int32_t dy) {
  if (entity >= positions_.size()) return false;
  game_position& at = positions_[entity];
  at.x = std::clamp(at.x + dx, 0, width_ - 1);
  at.y = std::clamp(at.y + dy, 0, height_ - 1);
  ++moves_;
  return true;
}

absl::Status World::MoveBatch(std::string_view request) {
  if (request.size() % sizeof(game_world_move) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("world.move_batch: a request of ", request.size(),
                     " bytes is not a whole number of ", sizeof(game_world_move), "-byte moves"));
  }
  for (size_t offset = 0; offset < request.size(); offset += sizeof(game_world_move)) {
    game_world_move move;
    std::memcpy(&move, request.data() + offset, sizeof(move));
    if (!Move(move.entity, move.dx, move.dy)) {
      return absl::OutOfRangeError(absl::StrCat("world.move_batch: no entity ", move.entity,
                                                " (the world has ", positions_.size(), ")"));
    }
  }
  return absl::OkStatus();
}

void World::WriteTick(uint64_t tick, std::string* request) const {
  game_tick_header header{};
  header.tick = tick;
  header.first_entity = 0;
  header.count = static_cast<uint32_t>(positions_.size());
  header.width = width_;
  header.height = height_;
  const size_t positions_bytes = positions_.size() * sizeof(game_position);
  request->resize(sizeof(header) + positions_bytes);
  std::memcpy(request->data(), &header, sizeof(header));
  std::memcpy(request->data() + sizeof(header), positions_.data(), positions_bytes);
}

uint64_t World::TakeMoves() { return std::exchange(moves_, 0); }

uint64_t World::Checksum() const {
  uint64_t hash = 0xcbf29ce484222325u;
  for (const game_position& at : positions_) {
    unsigned char bytes[sizeof(at)];
    std::memcpy(bytes, &at, sizeof(at));
    for (unsigned char byte : bytes) hash = (hash ^ byte) * 0x100000001b3u;
  }
  return hash;
}

int32_t World::MoveTyped(void* world, uint32_t entity, int32_t dx, int32_t dy) {
  return static_cast<World*>(world)->Move(entity, dx, dy) ? FNHOST_STATUS_OK
                                                          : FNHOST_STATUS_OUT_OF_RANGE;
}

fnhost::ServiceSpec World::Service() {
  static constexpr game_world_v1 kTable = {.move = &World::MoveTyped};
  fnhost::ServiceSpec spec;
  spec.name = GAME_WORLD_SERVICE;
  spec.version = GAME_WORLD_SERVICE_VERSION;
  spec.typed = &kTable;
  spec.typed_data = this;
  spec.bytes = [this](const fnhost::ServiceCall& call, std::string* response) {
    if (call.method != GAME_WORLD_METHOD_MOVE_BATCH) {
      return absl::UnimplementedError(
          absl::StrCat("world: no method '", std::string(call.method), "' (it has '",
                       GAME_WORLD_METHOD_MOVE_BATCH, "')"));
    }
    response->clear();
    return MoveBatch(call.request);
  };
  return spec;
}

}  // namespace game
