// The game server's command line: what to run, for how long, and where.
//
//   fnhost_game_server_example [--ticks=N] [--entities=N] [--seed=N] [--module=PATH]
//       [--reload-at=K --reload-module=PATH] [--isolation=in_process|process]
//
// Stateless; thread-safe.

#ifndef FNHOST_EXAMPLES_GAME_SERVER_GAME_FLAGS_H_
#define FNHOST_EXAMPLES_GAME_SERVER_GAME_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace game {

struct GameOptions {
  // Ticks to run. Default: 600.
  uint64_t ticks = 600;
  // Entities in the world; all go to the module in one call per tick. Default: 10000.
  uint32_t entities = 10000;
  // Where the entities start, and the module's random generators. Default: 1.
  uint64_t seed = 1;
  // The behaviour module; relative paths are against the current directory. Default: empty,
  // behaviour.so next to the executable.
  std::string module_path;
  // Reload to `reload_module` before tick `reload_at` (counting from 0). Default: no reload.
  std::optional<uint64_t> reload_at;
  std::string reload_module;
  // Run the module in worker processes. Default: false, in the game's process.
  bool process_isolation = false;
  // --help: print the usage and exit. Default: false.
  bool help = false;
};

// The usage text, ending in a newline.
extern const char kGameUsage[];

// Parses argv[1..argc-1]. INVALID_ARGUMENT names the flag and what is wrong with it.
absl::StatusOr<GameOptions> ParseGameFlags(int argc, const char* const* argv);

}  // namespace game

#endif  // FNHOST_EXAMPLES_GAME_SERVER_GAME_FLAGS_H_
