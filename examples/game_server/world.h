// World: the game's entities and their positions, the only truth about where they are. The
// behaviour module moves them through the `world` host service (world_service.h) that World
// offers in both forms: a typed table for modules in the host's process, and a bytes handler
// ("move_batch") that serves modules under process isolation.
//
// Thread-safety: none of its own. The game makes one call of the module at a time, and both
// forms run inside that call, so moves never race with each other or with the game loop.

#ifndef FNHOST_EXAMPLES_GAME_SERVER_WORLD_H_
#define FNHOST_EXAMPLES_GAME_SERVER_WORLD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "examples/game_server/world_service.h"
#include "fnhost/host_service.h"

namespace game {

class World {
 public:
  // `entities` entities at positions drawn from `seed`, in a world of width x height cells.
  World(uint32_t entities, int32_t width, int32_t height, uint64_t seed);
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Moves `entity` by (dx, dy), clamped to the world's edges. False for an unknown entity.
  bool Move(uint32_t entity, int32_t dx, int32_t dy);
  // Applies a "move_batch" request: an array of game_world_move. Errors name the cause; the
  // moves before a bad one stay applied.
  absl::Status MoveBatch(std::string_view request);

  // Sets *request to tick `tick` for every entity: a game_tick_header and their positions.
  void WriteTick(uint64_t tick, std::string* request) const;
  // The moves received since the last call, and starts counting again.
  uint64_t TakeMoves();
  // A hash of every entity's position (FNV-1a, 64 bits): equal worlds, equal checksums.
  uint64_t Checksum() const;
  uint32_t entities() const { return static_cast<uint32_t>(positions_.size()); }

  // The `world` service over this world, with both forms. The world must outlive the host it
  // is registered on.
  fnhost::ServiceSpec Service();

 private:
  static int32_t MoveTyped(void* world, uint32_t entity, int32_t dx, int32_t dy);

  const int32_t width_;
  const int32_t height_;
  std::vector<game_position> positions_;
  uint64_t moves_ = 0;
};

}  // namespace game

#endif  // FNHOST_EXAMPLES_GAME_SERVER_WORLD_H_
