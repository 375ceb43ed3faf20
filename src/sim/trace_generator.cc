// GenerateTrace. Each draw names the figure of Shahrad et al. (ATC 2020) it follows; "ours"
// marks choices the paper does not pin down.

#include "src/sim/trace_generator.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/sim/random.h"

namespace fnhost::sim {
namespace {

constexpr double kDaySeconds = 24 * 3600;

std::string HexId(Rng& rng) {
  std::string id;
  for (int i = 0; i < 4; ++i) id += absl::StrFormat("%016x", rng.Next());
  return id;
}

// Figure 2 (functions per app): 1 for 54% of the apps, 2 for 16%, 3 for 10%, 4-5 for 8%,
// 6-10 for 7%, more for 5% (uniform inside each range; 11-100 log-uniform, ours).
int DrawFunctionsPerApp(Rng& rng) {
  const double u = rng.Uniform();
  if (u < 0.54) return 1;
  if (u < 0.70) return 2;
  if (u < 0.80) return 3;
  if (u < 0.88) return 4 + static_cast<int>(rng.Uniform() * 2);
  if (u < 0.95) return 6 + static_cast<int>(rng.Uniform() * 5);
  return static_cast<int>(std::exp(rng.Uniform(std::log(11.0), std::log(101.0))));
}

// Figure 3(a) (functions per trigger type): HTTP 55.0%, queue 15.2%, timer 15.6%,
// orchestration 6.9%, storage 2.8%, event 2.2%, others 2.3%. With the app sizes above, about
// a third of the apps get at least one timer, close to what Figure 3(b) reports.
std::string DrawTrigger(Rng& rng) {
  static constexpr std::array<std::pair<const char*, double>, 7> kShares = {{
      {"http", 0.550},
      {"queue", 0.152},
      {"timer", 0.156},
      {"orchestration", 0.069},
      {"storage", 0.028},
      {"event", 0.022},
      {"others", 0.023},
  }};
  double u = rng.Uniform();
  for (const auto& [trigger, share] : kShares) {
    if (u < share) return trigger;
    u -= share;
  }
  return "others";
}

// Figure 5(a) (average invocations per day, CDF): 45% of apps are invoked at most once an
// hour, 81% at most once a minute, over a range of 8 orders of magnitude. We read the CDF as
// log-linear between these anchors, from once a day, and apply it to functions. Above once a
// minute the split is ours: 18% of the functions up to once a second, the last 1% up to 10 a
// second. The paper's busiest functions go far higher; the cut keeps the replay of 1,000
// functions over a day to tens of seconds.
double DrawCallsPerDay(Rng& rng) {
  static constexpr std::array<std::pair<double, double>, 5> kAnchors = {{
      {1, 0.0},
      {24, 0.45},
      {1440, 0.81},
      {86400, 0.99},
      {864000, 1.0},
  }};
  const double u = rng.Uniform();
  for (size_t i = 1; i < kAnchors.size(); ++i) {
    const auto [low_rate, low_p] = kAnchors[i - 1];
    const auto [high_rate, high_p] = kAnchors[i];
    if (u <= high_p) {
      const double share = (u - low_p) / (high_p - low_p);
      return std::exp(std::log(low_rate) + share * (std::log(high_rate) - std::log(low_rate)));
    }
  }
  return kAnchors.back().first;
}

// Timer triggers fire at fixed periods (the paper: timers make IATs with a CV of 0, Figure
// 6). A timer function's rate drawn from Figure 5(a) is snapped to the nearest common cron
// period, in log scale (the list is ours).
absl::Duration TimerPeriod(double calls_per_day) {
  static constexpr std::array<int, 13> kPeriodMinutes = {1,   2,   5,   10,  15,  30, 60,
                                                         120, 240, 360, 480, 720, 1440};
  const double minutes = 1440 / calls_per_day;
  int best = kPeriodMinutes[0];
  for (int period : kPeriodMinutes) {
    if (std::abs(std::log(period / minutes)) < std::abs(std::log(best / minutes))) best = period;
  }
  return absl::Minutes(best);
}

// Figure 7 (average execution time per function): log-normal with mu = -0.38 and sigma = 2.36
// (natural log of seconds), as fitted in the paper; clamped to 1 ms .. 10 minutes, the
// platform's limit on a call.
absl::Duration DrawAverageDuration(Rng& rng) {
  const double seconds = std::exp(-0.38 + 2.36 * rng.Normal());
  return absl::Seconds(std::clamp(seconds, 0.001, 600.0));
}

// Figure 8 (average allocated memory per app): the paper's Burr XII fit, c = 11.652,
// k = 0.221, lambda = 107.083 MB (median about 140 MB), by inverting its CDF.
double DrawAppMemoryMb(Rng& rng) {
  constexpr double kC = 11.652, kK = 0.221, kLambda = 107.083;
  const double u = rng.Uniform();
  return kLambda * std::pow(std::pow(1 - u, -1 / kK) - 1, 1 / kC);
}

// Diurnal load (Figure 4: invocations per hour follow the day, at roughly twice the load at
// the peak as at the trough): rate * (1 + A cos(...)) with A = 1/3, peaking at 14:00 UTC
// +- 3 hours per function (the spread is ours).
constexpr double kDiurnalAmplitude = 1.0 / 3;

struct ArrivalProcess {
  double calls_per_second = 0;
  double peak_second_of_day = 0;
  double mean_burst = 1;  // calls per burst; 1: plain Poisson
};

// Non-timer functions (ours, after Figure 6's spread of IAT CVs, many of them above 1): half
// arrive as a Poisson process, half in bursts of geometric size with a mean of 2 to 20 calls
// a second or so apart; both follow the diurnal shape (by thinning).
void AddRandomCalls(const ArrivalProcess& process, double end_second, Rng& rng,
                    std::vector<int32_t>& counts) {
  const double burst_rate = process.calls_per_second / process.mean_burst;
  const double max_rate = burst_rate * (1 + kDiurnalAmplitude);
  const double stay = (process.mean_burst - 1) / process.mean_burst;  // P(another call)
  for (double t = rng.Exponential(1 / max_rate); t < end_second;
       t += rng.Exponential(1 / max_rate)) {
    const double angle = 2 * M_PI * (t - process.peak_second_of_day) / kDaySeconds;
    if (rng.Uniform() * (1 + kDiurnalAmplitude) > 1 + kDiurnalAmplitude * std::cos(angle)) {
      continue;
    }
    double call = t;
    do {
      if (call >= end_second) break;
      ++counts[static_cast<size_t>(call / 60)];
      call += rng.Exponential(1.0);
    } while (rng.Uniform() < stay);
  }
}

}  // namespace

absl::StatusOr<Trace> GenerateTrace(const GeneratorOptions& options) {
  if (options.functions < 1 || options.days < 1 || options.days > 366) {
    return absl::InvalidArgumentError(
        absl::StrCat("GenerateTrace: needs at least 1 function and 1 to 366 days, not ",
                     options.functions, " functions and ", options.days, " days"));
  }
  Rng rng(MixSeed(options.seed, StableHash("fnhost gen-trace")));
  const double end_second = options.days * kDaySeconds;
  const size_t minutes = static_cast<size_t>(options.days) * 24 * 60;
  Trace trace;
  trace.length = absl::Hours(24) * options.days;
  std::vector<int32_t> counts(minutes);
  while (static_cast<int>(trace.functions.size()) < options.functions) {
    const std::string owner = HexId(rng);
    const std::string app = HexId(rng);
    const int size =
        std::min(DrawFunctionsPerApp(rng), options.functions - static_cast<int>(trace.functions.size()));
    const double function_memory_mb = DrawAppMemoryMb(rng) / size;
    for (int i = 0; i < size; ++i) {
      TraceFunction function;
      function.app = absl::StrCat(owner, "/", app);
      function.id = absl::StrCat(function.app, "/", HexId(rng));
      function.trigger = DrawTrigger(rng);
      function.memory_mb = function_memory_mb;
      function.duration = DrawAverageDuration(rng);
      const double calls_per_day = DrawCallsPerDay(rng);
      std::fill(counts.begin(), counts.end(), 0);
      if (function.trigger == "timer") {
        const double period = absl::ToDoubleSeconds(TimerPeriod(calls_per_day));
        for (double t = rng.Uniform(0, period); t < end_second; t += period) {
          ++counts[static_cast<size_t>(t / 60)];
        }
      } else {
        ArrivalProcess process;
        process.calls_per_second = calls_per_day / kDaySeconds;
        process.peak_second_of_day = 14 * 3600 + rng.Uniform(-3, 3) * 3600;
        if (rng.Uniform() < 0.5) process.mean_burst = rng.Uniform(2, 20);
        AddRandomCalls(process, end_second, rng, counts);
      }
      for (size_t m = 0; m < minutes; ++m) {
        if (counts[m] > 0) function.minutes.push_back({static_cast<int32_t>(m), counts[m]});
      }
      trace.functions.push_back(std::move(function));
    }
  }
  return trace;
}

}  // namespace fnhost::sim
