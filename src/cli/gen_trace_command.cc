// `fnhost gen-trace`: see the usage text below.

#include "src/cli/gen_trace_command.h"

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "src/cli/flags.h"
#include "src/sim/trace_generator.h"
#include "src/sim/trace_writer.h"

namespace fnhost::cli {
namespace {

constexpr char kUsage[] =
    "usage: fnhost gen-trace --functions=N --days=D --seed=S --out=DIR\n"
    "  writes DIR/invocations_per_function_md.anon.dNN.csv and the durations and memory files\n"
    "  of the Azure Functions 2019 dataset, following the characterisation of Shahrad et al.,\n"
    "  \"Serverless in the Wild\" (USENIX ATC 2020)\n";

int Usage(const std::string& message) {
  std::fprintf(stderr, "fnhost gen-trace: %s\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int RunGenTraceCommand(int argc, char** argv) {
  if (HelpRequested(argc, argv, 2)) return ShowHelp(kUsage);
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, 2, {"functions", "days", "seed", "out"});
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  if (!flags->positional().empty()) return Usage("unexpected " + flags->positional()[0]);
  if (!flags->Has("out")) return Usage("--out is required");
  sim::GeneratorOptions options;
  absl::StatusOr<int64_t> functions = flags->GetInt("functions", options.functions);
  absl::StatusOr<int64_t> days = flags->GetInt("days", options.days);
  absl::StatusOr<int64_t> seed = flags->GetInt("seed", 1);
  for (const absl::StatusOr<int64_t>* value : {&functions, &days, &seed}) {
    if (!value->ok()) return Usage(std::string(value->status().message()));
  }
  if (*functions < 1 || *functions > 1000000 || *days < 1 || *days > 366 || *seed < 0) {
    return Usage("--functions must be 1 to 1000000, --days 1 to 366, --seed non-negative");
  }
  options.functions = static_cast<int>(*functions);
  options.days = static_cast<int>(*days);
  options.seed = static_cast<uint64_t>(*seed);
  absl::StatusOr<sim::Trace> trace = sim::GenerateTrace(options);
  absl::Status status =
      trace.ok() ? sim::WriteAzure2019Trace(*trace, flags->Get("out")) : trace.status();
  if (!status.ok()) {
    std::fprintf(stderr, "fnhost gen-trace: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  int64_t calls = 0, timers = 0, silent = 0;
  for (const sim::TraceFunction& function : trace->functions) {
    for (const sim::MinuteCount& minute : function.minutes) calls += minute.count;
    timers += function.trigger == "timer";
    silent += function.minutes.empty();
  }
  // Functions drawn at the lowest rates (Figure 5(a) starts at once a day) may get no call in
  // a short trace; like the Azure dataset, the files list only functions with calls, so the
  // simulator sees functions - silent of them.
  std::printf("wrote %zu functions (%lld timer-triggered, %lld without any call, so not in the "
              "files) with %lld calls over %d days to %s\n",
              trace->functions.size(), static_cast<long long>(timers),
              static_cast<long long>(silent), static_cast<long long>(calls), options.days,
              flags->Get("out").c_str());
  return 0;
}

}  // namespace fnhost::cli
