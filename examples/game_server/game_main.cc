// A headless game server that embeds fnhost: a world of entities moved, tick after tick, by a
// behaviour module it can reload mid-game without losing the module's memory (README,
// "Example: a game server"). At the end it prints `ticks=N checksum=HEX`, a hash of the world
// that is the same with and without a reload and in both isolation modes, and on stderr the
// tick rate and the latency of the per-tick call.
//
//   fnhost_game_server_example --ticks=600 --reload-at=300 --reload-module=behaviour_next.so
#include <cinttypes>
#include <cstdio>
#include <string>

#include "examples/game_server/game_flags.h"
#include "examples/game_server/game_loop.h"

namespace {

double Milliseconds(absl::Duration duration) { return absl::ToDoubleMilliseconds(duration); }

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<game::GameOptions> options = game::ParseGameFlags(argc, argv);
  if (!options.ok()) {
    std::fprintf(stderr, "game_server: %s\n%s", std::string(options.status().message()).c_str(),
                 game::kGameUsage);
    return 2;
  }
  if (options->help) {
    std::fputs(game::kGameUsage, stdout);
    return 0;
  }
  absl::StatusOr<game::GameReport> report = game::RunGame(*options);
  if (!report.ok()) {
    std::fprintf(stderr, "game_server: %s\n", std::string(report.status().message()).c_str());
    return 1;
  }
  std::printf("ticks=%" PRIu64 " checksum=%016" PRIx64 "\n", report->ticks, report->checksum);
  std::fprintf(stderr,
               "game_server: %u entities, isolation=%s: %.0f ticks/s; per-tick call p50 %.3f ms, "
               "p99 %.3f ms, max %.3f ms\n",
               options->entities, options->process_isolation ? "process" : "in_process",
               report->ticks_per_second, Milliseconds(report->p50), Milliseconds(report->p99),
               Milliseconds(report->max));
  if (options->reload_at.has_value()) {
    std::fprintf(stderr, "game_server: reload before tick %" PRIu64 " to %s took %.1f ms: %s\n",
                 *options->reload_at, report->reload_version.c_str(),
                 Milliseconds(report->reload_time), report->reload_path.c_str());
  }
  return 0;
}
