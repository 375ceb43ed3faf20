// The game's tick loop: builds the world, registers its `world` service on a Host, and calls
// the behaviour module once per tick with every entity, reloading it mid-game when asked.
//
// Thread-safety: RunGame uses the calling thread; runs on different threads are independent.

#ifndef FNHOST_EXAMPLES_GAME_SERVER_GAME_LOOP_H_
#define FNHOST_EXAMPLES_GAME_SERVER_GAME_LOOP_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "examples/game_server/game_flags.h"

namespace game {

struct GameReport {
  uint64_t ticks = 0;
  uint64_t checksum = 0;  // World::Checksum after the last tick
  // Ticks per second over the loop, the reload's own time left out.
  double ticks_per_second = 0;
  // Of the per-tick call (Host::Invoke), over every tick.
  absl::Duration p50;
  absl::Duration p99;
  absl::Duration max;
  // With a reload: the path it took ("kept_state" or "init"), the version it installed and
  // how long Host::Reload took.
  std::string reload_path;
  std::string reload_version;
  absl::Duration reload_time;
};

// Runs the game. Errors name the step (registering, the tick, the reload) and the cause.
absl::StatusOr<GameReport> RunGame(const GameOptions& options);

}  // namespace game

#endif  // FNHOST_EXAMPLES_GAME_SERVER_GAME_LOOP_H_
