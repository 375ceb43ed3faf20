// MakeKeepAlivePolicy and the policy spec syntax (see the header).

#include "src/policy/keep_alive_policy.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "src/common/strings.h"
#include "src/policy/fixed_policy.h"
#include "src/policy/hybrid_policy.h"
#include "src/policy/scheduled_policy.h"

namespace fnhost {
namespace {

// Minutes after midnight of "HH:MM" (00:00 to 23:59, and 24:00 where `end_of_day` allows it).
std::optional<int> ParseClockTime(absl::string_view text, bool end_of_day) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (int i : {0, 1, 3, 4}) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
  }
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (minutes >= 60) return std::nullopt;
  if (hours < 24 || (end_of_day && hours == 24 && minutes == 0)) return hours * 60 + minutes;
  return std::nullopt;
}

std::optional<absl::Duration> ParseNonNegativeDuration(absl::string_view text) {
  absl::Duration duration;
  if (!absl::ParseDuration(text, &duration) || duration < absl::ZeroDuration()) {
    return std::nullopt;
  }
  return duration;
}

std::string ClockTime(int minute) { return absl::StrFormat("%02d:%02d", minute / 60, minute % 60); }

}  // namespace

std::unique_ptr<KeepAlivePolicy> MakeKeepAlivePolicy(const KeepAliveOptions& options,
                                                     absl::TimeZone time_zone) {
  switch (options.kind) {
    case KeepAliveOptions::Kind::kScheduled:
      return std::make_unique<ScheduledPolicy>(options, time_zone);
    case KeepAliveOptions::Kind::kHybrid:
      return std::make_unique<HybridPolicy>(options);
    case KeepAliveOptions::Kind::kFixed:
      break;
  }
  return std::make_unique<FixedPolicy>(options);
}

absl::Status ValidateKeepAliveOptions(const KeepAliveOptions& options) {
  auto invalid = [](auto&&... cause) {
    return absl::InvalidArgumentError(absl::StrCat(cause...));
  };
  if (options.idle_timeout < absl::ZeroDuration()) {
    return invalid("idle_timeout ", absl::FormatDuration(options.idle_timeout), " is negative");
  }
  if (options.warm_every < absl::ZeroDuration() || options.warm_every == absl::InfiniteDuration()) {
    return invalid("warm_every ", absl::FormatDuration(options.warm_every),
                   " is not a finite, non-negative duration");
  }
  if (options.scheduled_instances < 0) {
    return invalid("scheduled_instances ", options.scheduled_instances, " is negative");
  }
  for (const KeepAliveOptions::DailyWindow& window : options.daily_windows) {
    if (window.begin_minute < 0 || window.begin_minute >= 24 * 60 || window.end_minute < 0 ||
        window.end_minute > 24 * 60 || window.begin_minute == window.end_minute) {
      return invalid("daily window ", window.begin_minute, "-", window.end_minute,
                     " (minutes after midnight) is empty or outside 0 to 1440");
    }
  }
  const std::pair<const char*, double> positives[] = {
      {"cold_start_cost_gb_s", options.cold_start_cost_gb_s},
      {"instance_memory_mb", options.instance_memory_mb},
  };
  for (const auto& [field, value] : positives) {
    if (!(value > 0) || std::isinf(value)) {
      return invalid(field, " ", value, " is not a positive number");
    }
  }
  return absl::OkStatus();
}

namespace {

// A scheduled policy's option `key`=`value` (window, instances or every) into `options`;
// what is wrong with it, if anything.
std::optional<std::string> ParseScheduledOption(absl::string_view key, absl::string_view value,
                                                KeepAliveOptions* options) {
  if (key == "window") {
    const std::vector<absl::string_view> ends = absl::StrSplit(value, absl::MaxSplits('-', 1));
    std::optional<int> begin = ParseClockTime(ends[0], /*end_of_day=*/false);
    std::optional<int> end =
        ends.size() == 2 ? ParseClockTime(ends[1], /*end_of_day=*/true) : std::nullopt;
    if (!begin.has_value() || !end.has_value() || *begin == *end) {
      return absl::StrCat("window \"", value, "\" is not HH:MM-HH:MM with two different times");
    }
    options->daily_windows.push_back({*begin, *end});
  } else if (key == "instances") {
    if (!absl::SimpleAtoi(value, &options->scheduled_instances) ||
        options->scheduled_instances < 1) {
      return absl::StrCat("instances \"", value, "\" is not a positive integer");
    }
  } else {
    std::optional<absl::Duration> every = ParseNonNegativeDuration(value);
    if (!every.has_value() || *every == absl::InfiniteDuration()) {
      return absl::StrCat("every \"", value, "\" is not a finite duration");
    }
    options->warm_every = *every;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<KeepAliveOptions> ParsePolicySpec(std::string_view spec) {
  auto error = [spec](std::string_view cause) {
    return absl::InvalidArgumentError(
        absl::StrCat("ParsePolicySpec: \"", AsAbsl(spec), "\": ", AsAbsl(cause)));
  };
  const std::vector<absl::string_view> parts = absl::StrSplit(AsAbsl(spec), ',');
  const std::vector<absl::string_view> head = absl::StrSplit(parts[0], absl::MaxSplits(':', 1));
  KeepAliveOptions options;
  if (head[0] == "fixed" || head[0] == "scheduled") {
    options.kind = head[0] == "fixed" ? KeepAliveOptions::Kind::kFixed
                                      : KeepAliveOptions::Kind::kScheduled;
    std::optional<absl::Duration> timeout =
        head.size() == 2 ? ParseNonNegativeDuration(head[1]) : std::nullopt;
    if (!timeout.has_value()) {
      return error(absl::StrCat(head[0], " needs a non-negative idle timeout, as in \"",
                                head[0], ":10m\""));
    }
    options.idle_timeout = *timeout;
  } else if (head[0] == "hybrid" && head.size() == 1) {
    options.kind = KeepAliveOptions::Kind::kHybrid;
  } else {
    return error("the kind is not one of fixed:DURATION, scheduled:DURATION or hybrid");
  }

  const bool scheduled = options.kind == KeepAliveOptions::Kind::kScheduled;
  const bool hybrid = options.kind == KeepAliveOptions::Kind::kHybrid;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::vector<absl::string_view> option =
        absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
    const absl::string_view key = option[0];
    if (option.size() == 1 && key == "keep-loaded") {
      options.unload_when_idle = false;
      continue;
    }
    if (option.size() == 1 && !hybrid && key == "by-memory") {
      options.scale_by_memory = true;
      continue;
    }
    if (option.size() == 2 && hybrid && key == "cold-start-cost") {
      if (!absl::SimpleAtod(option[1], &options.cold_start_cost_gb_s) ||
          !(options.cold_start_cost_gb_s > 0) || std::isinf(options.cold_start_cost_gb_s)) {
        return error(absl::StrCat("cold-start-cost \"", option[1],
                                  "\" is not a positive number of GB-seconds"));
      }
      continue;
    }
    if (option.size() != 2 || !scheduled ||
        (key != "window" && key != "instances" && key != "every")) {
      return error(absl::StrCat("unknown option \"", parts[i], "\"",
                                scheduled ? ""
                                : hybrid  ? " (hybrid takes cold-start-cost; window, instances "
                                            "and every are for scheduled policies)"
                                          : " (fixed takes by-memory; window, instances and "
                                            "every are for scheduled policies)"));
    }
    if (std::optional<std::string> cause = ParseScheduledOption(key, option[1], &options)) {
      return error(*cause);
    }
  }
  return options;
}

std::string FormatPolicySpec(const KeepAliveOptions& options) {
  std::string spec;
  switch (options.kind) {
    case KeepAliveOptions::Kind::kFixed:
      spec = absl::StrCat("fixed:", absl::FormatDuration(options.idle_timeout));
      break;
    case KeepAliveOptions::Kind::kScheduled:
      spec = absl::StrCat("scheduled:", absl::FormatDuration(options.idle_timeout));
      for (const KeepAliveOptions::DailyWindow& window : options.daily_windows) {
        absl::StrAppend(&spec, ",window=", ClockTime(window.begin_minute), "-",
                        ClockTime(window.end_minute));
      }
      if (options.scheduled_instances != 1) {
        absl::StrAppend(&spec, ",instances=", options.scheduled_instances);
      }
      if (options.warm_every > absl::ZeroDuration()) {
        absl::StrAppend(&spec, ",every=", absl::FormatDuration(options.warm_every));
      }
      break;
    case KeepAliveOptions::Kind::kHybrid:
      spec = "hybrid";
      if (options.cold_start_cost_gb_s != KeepAliveOptions().cold_start_cost_gb_s) {
        absl::StrAppend(&spec, ",cold-start-cost=", options.cold_start_cost_gb_s);
      }
      break;
  }
  if (options.scale_by_memory && options.kind != KeepAliveOptions::Kind::kHybrid) {
    absl::StrAppend(&spec, ",by-memory");
  }
  if (!options.unload_when_idle) absl::StrAppend(&spec, ",keep-loaded");
  return spec;
}

}  // namespace fnhost
