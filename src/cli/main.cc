// The `fnhost` command: run, inspect, serve, snapshot, sim, gen-trace.
#include <cstdio>
#include <cstring>

#include "src/cli/commands.h"
#include "src/cli/gen_trace_command.h"
#include "src/cli/sim_command.h"

namespace {

constexpr char kUsage[] =
    "usage: fnhost COMMAND [ARGS]\n"
    "  run MODULE.so [--data=S] [--repeat=N]   load a module, call it, show cold/warm costs\n"
    "  inspect MODULE.so|SNAPSHOT              metadata, dependencies, load-time breakdown\n"
    "  serve [--config=FILE] [--port=8080]     serve functions over HTTP\n"
    "  snapshot MODULE.so --out=FILE|DIR       run init ahead of time, write the state snapshot\n"
    "  sim --trace=PATH --policy=SPEC ...      replay traces through keep-alive policies\n"
    "  gen-trace --out=DIR [--functions=N]     write a synthetic Azure-format trace\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const char* command = argv[1];
  if (std::strcmp(command, "run") == 0) return fnhost::cli::RunCommand(argc, argv);
  if (std::strcmp(command, "inspect") == 0) return fnhost::cli::InspectCommand(argc, argv);
  if (std::strcmp(command, "serve") == 0) return fnhost::cli::ServeCommand(argc, argv);
  if (std::strcmp(command, "snapshot") == 0) return fnhost::cli::SnapshotCommand(argc, argv);
  if (std::strcmp(command, "sim") == 0) return fnhost::cli::RunSimCommand(argc, argv);
  if (std::strcmp(command, "gen-trace") == 0) return fnhost::cli::RunGenTraceCommand(argc, argv);
  std::fprintf(stderr, "fnhost: unknown command '%s'\n%s", command, kUsage);
  return 2;
}
