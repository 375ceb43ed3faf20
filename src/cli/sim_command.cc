// `fnhost sim`: see the usage text below.

#include "src/cli/sim_command.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "src/cli/flags.h"
#include "src/sim/report.h"
#include "src/sim/simulator.h"
#include "src/sim/trace_reader.h"
#include "src/sim/trace_writer.h"

namespace fnhost::cli {
namespace {

constexpr char kUsage[] =
    "usage: fnhost sim --trace=PATH [--trace=PATH ...] --policy=SPEC [--policy=SPEC ...]\n"
    "                  [--csv=FILE] [--svg=FILE] [--seed=N] [--max-functions=N] "
    "[--threads=N]\n"
    "                  [--breakdown] [--memory-budget=GB[,GB...]]\n"
    "  --trace   Azure Functions 2019 invocations file(s), one per day in order, or a\n"
    "            directory of them; or one Azure Functions 2021 invocations file\n"
    "  --policy  fixed:DURATION[,by-memory] | hybrid[,cold-start-cost=GB_S]\n"
    "            | scheduled:DURATION[,window=HH:MM-HH:MM][,instances=N][,every=DURATION]\n"
    "            [,by-memory], each optionally ,keep-loaded; by-memory scales the timeout\n"
    "            by 128 MB / the function's memory; GB_S prices a cold start (default 512)\n"
    "  --seed    spreads per-minute counts inside their minutes (default 1)\n"
    "  --threads functions replayed in parallel (default: the number of cores; the results\n"
    "            do not depend on it)\n"
    "  --breakdown  also print each policy's cold starts and wasted memory by function\n"
    "            class (timer, rare, bursty, steady) and instance level\n"
    "  --memory-budget  also replay each policy with all functions sharing GB of memory:\n"
    "            idle instances are evicted across functions by Greedy-Dual priority\n"
    "            (FaaSCache) when an instance does not fit; several sizes, comma-separated\n";

// CPU time used by the whole process so far, all threads.
double ProcessCpuSeconds() {
  timespec now{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "fnhost sim: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "fnhost sim: %s\n%s", message.c_str(), kUsage);
  return 2;
}

// The simulator's options from the flags; an error message for bad ones.
absl::StatusOr<sim::SimOptions> SimOptionsFrom(const Flags& flags) {
  sim::SimOptions options;
  absl::StatusOr<int64_t> seed = flags.GetInt("seed", 1);
  absl::StatusOr<int64_t> max_functions = flags.GetInt("max-functions", 0);
  // Results do not depend on the number of threads, so use every core by default.
  absl::StatusOr<int64_t> threads =
      flags.GetInt("threads", std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 64));
  for (const absl::StatusOr<int64_t>* value : {&seed, &max_functions, &threads}) {
    if (!value->ok()) return value->status();
  }
  if (*seed < 0 || *max_functions < 0 || *max_functions > INT32_MAX || *threads < 1 ||
      *threads > 64) {
    return absl::InvalidArgumentError(
        "--seed and --max-functions must be non-negative, --threads 1 to 64");
  }
  options.seed = static_cast<uint64_t>(*seed);
  options.max_functions = static_cast<int>(*max_functions);
  options.threads = static_cast<int>(*threads);
  for (const std::string& list : flags.GetAll("memory-budget")) {
    for (absl::string_view size : absl::StrSplit(list, ',')) {
      double gb;
      if (!absl::SimpleAtod(size, &gb) || !(gb > 0) || !std::isfinite(gb)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--memory-budget: \"", size, "\" is not a size in GB"));
      }
      options.memory_budgets_gb.push_back(gb);
    }
  }
  return options;
}

// Writes the --csv and --svg files asked for.
absl::Status WriteFiles(const Flags& flags, const std::vector<std::string>& traces,
                        const std::vector<sim::PolicyResult>& results) {
  if (flags.Has("csv")) {
    if (absl::Status status = sim::WriteTextFile(flags.Get("csv"), sim::FormatCsv(results));
        !status.ok()) {
      return status;
    }
  }
  if (!flags.Has("svg")) return absl::OkStatus();
  const std::string title = absl::StrCat("Keep-alive policies on ", absl::StrJoin(traces, ", "));
  return sim::WriteTextFile(flags.Get("svg"), sim::RenderSvg(results, title));
}

}  // namespace

int RunSimCommand(int argc, char** argv) {
  if (HelpRequested(argc, argv, 2)) return ShowHelp(kUsage);
  absl::StatusOr<Flags> flags =
      Flags::Parse(argc, argv, 2,
                   {"trace*", "policy*", "csv", "svg", "seed", "max-functions", "threads",
                    "memory-budget*"},
                   {"breakdown"});
  if (!flags.ok()) return Usage(std::string(flags.status().message()));
  if (!flags->positional().empty()) return Usage("unexpected " + flags->positional()[0]);
  const std::vector<std::string> traces = flags->GetAll("trace");
  const std::vector<std::string> policies = flags->GetAll("policy");
  if (traces.empty() || policies.empty()) return Usage("--trace and --policy are required");
  absl::StatusOr<sim::SimOptions> parsed = SimOptionsFrom(*flags);
  if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  const sim::SimOptions& options = *parsed;

  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<sim::Trace> trace = sim::ReadTrace(traces);
  if (!trace.ok()) return Fail(trace.status());
  const auto read = std::chrono::steady_clock::now();
  const double cpu_before = ProcessCpuSeconds();
  absl::StatusOr<std::vector<sim::PolicyResult>> results =
      sim::Simulate(*trace, policies, options);
  if (!results.ok()) return Usage(std::string(results.status().message()));
  const auto done = std::chrono::steady_clock::now();
  const double replay_cpu_s = ProcessCpuSeconds() - cpu_before;

  std::fputs(sim::FormatTable(*results).c_str(), stdout);
  std::fputs(sim::FormatComparisons(*results).c_str(), stdout);
  std::fputs(sim::FormatBudgets(*results).c_str(), stdout);
  if (flags->Has("breakdown")) std::fputs(sim::FormatBreakdown(*results).c_str(), stdout);
  if (trace->functions_without_duration > 0 || trace->apps_without_memory > 0) {
    std::printf("defaults used: %d functions without a duration (%s), %d apps without memory "
                "(%g MB)\n",
                trace->functions_without_duration,
                absl::FormatDuration(sim::kDefaultDuration).c_str(), trace->apps_without_memory,
                sim::kDefaultAppMemoryMb);
  }
  if (absl::Status status = WriteFiles(*flags, traces, *results); !status.ok()) {
    return Fail(status);
  }
  const int64_t calls = results->front().invocations;
  const double replay_s = std::chrono::duration<double>(done - read).count();
  // CPU time (all threads) per call and replay (a policy, or a policy under a budget), so that
  // other work on the machine does not count.
  const double ns_per_call =
      calls > 0 ? replay_cpu_s * 1e9 /
                      (static_cast<double>(calls) * static_cast<double>(results->size()))
                : 0;
  std::fprintf(stderr,
               "fnhost sim: read %zu functions in %.2f s; replayed %lld calls %zu times in "
               "%.2f s on %d threads (%.0f ns per call and policy)\n",
               trace->functions.size(), std::chrono::duration<double>(read - start).count(),
               static_cast<long long>(calls), results->size(), replay_s, options.threads,
               ns_per_call);
  return 0;
}

}  // namespace fnhost::cli
