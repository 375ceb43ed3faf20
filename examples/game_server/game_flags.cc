#include "examples/game_server/game_flags.h"

#include <charconv>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace game {

const char kGameUsage[] =
    "usage: fnhost_game_server_example [--ticks=N] [--entities=N] [--seed=N] [--module=PATH]\n"
    "           [--reload-at=K --reload-module=PATH] [--isolation=in_process|process]\n"
    "Runs N ticks of a world of entities moved by a behaviour module, then prints\n"
    "'ticks=N checksum=HEX' (stdout) and the tick rate and latencies (stderr).\n";

namespace {

absl::Status Bad(std::string_view flag, std::string_view value, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", std::string(flag), "='", std::string(value), "': ", std::string(why)));
}

// A whole number from `min` to `max`.
absl::Status ParseNumber(std::string_view flag, std::string_view value, uint64_t min,
                         uint64_t max, uint64_t* out) {
  const char* end = value.data() + value.size();
  const auto [stop, error] = std::from_chars(value.data(), end, *out);
  if (error != std::errc() || stop != end || value.empty() || *out < min || *out > max) {
    return Bad(flag, value, absl::StrCat("expected a whole number from ", min, " to ", max));
  }
  return absl::OkStatus();
}

absl::Status Apply(std::string_view flag, std::string_view value, GameOptions* options) {
  uint64_t number = 0;
  absl::Status status;
  if (flag == "ticks") {
    status = ParseNumber(flag, value, 1, 10'000'000, &options->ticks);
  } else if (flag == "entities") {
    status = ParseNumber(flag, value, 1, 1'000'000, &number);
    options->entities = static_cast<uint32_t>(number);
  } else if (flag == "seed") {
    status = ParseNumber(flag, value, 0, UINT32_MAX, &options->seed);
  } else if (flag == "reload-at") {
    status = ParseNumber(flag, value, 0, 10'000'000, &number);
    options->reload_at = number;
  } else if (flag == "module" || flag == "reload-module") {
    if (value.empty()) return Bad(flag, value, "expected the path of a module");
    (flag == "module" ? options->module_path : options->reload_module) = std::string(value);
  } else if (flag == "isolation") {
    if (value != "in_process" && value != "process") {
      return Bad(flag, value, "expected in_process or process");
    }
    options->process_isolation = value == "process";
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag '--", std::string(flag), "'"));
  }
  return status;
}

}  // namespace

absl::StatusOr<GameOptions> ParseGameFlags(int argc, const char* const* argv) {
  GameOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view argument = argv[i];
    if (argument == "--help" || argument == "-h") {
      options.help = true;
      continue;
    }
    const size_t equals = argument.find('=');
    if (argument.substr(0, 2) != "--" || equals == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", std::string(argument), "': flags are written --name=value"));
    }
    absl::Status status =
        Apply(argument.substr(2, equals - 2), argument.substr(equals + 1), &options);
    if (!status.ok()) return status;
  }
  if (options.reload_at.has_value() != !options.reload_module.empty()) {
    return absl::InvalidArgumentError("--reload-at and --reload-module go together");
  }
  if (options.reload_at.has_value() && *options.reload_at >= options.ticks) {
    return absl::InvalidArgumentError(absl::StrCat("--reload-at=", *options.reload_at,
                                                   ": must be below --ticks=", options.ticks));
  }
  return options;
}

}  // namespace game
