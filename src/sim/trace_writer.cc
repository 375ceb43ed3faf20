// WriteAzure2019Trace: see the header.

#include "src/sim/trace_writer.h"

#include <map>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "src/common/file_system.h"
#include "src/common/strings.h"

namespace fnhost::sim {
namespace {

constexpr int kMinutesPerDay = 24 * 60;

std::string Repeat(const std::string& value, int times) {
  return absl::StrJoin(std::vector<std::string>(times, value), ",");
}

}  // namespace

absl::Status WriteTextFile(const std::string& path, std::string_view contents) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      FileSystem::Default()->NewWritableFile(path);
  if (!file.ok()) return file.status();
  if (absl::Status status = (*file)->Append(contents); !status.ok()) return status;
  return (*file)->Close();
}

absl::Status WriteAzure2019Trace(const Trace& trace, const std::string& dir) {
  absl::Duration unused;
  const int64_t days = absl::IDivDuration(trace.length, absl::Hours(24), &unused);
  if (days < 1 || unused != absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("WriteAzure2019Trace: the trace lasts ", absl::FormatDuration(trace.length),
                     ", not whole days"));
  }
  absl::flat_hash_map<std::string, double> app_memory_mb;
  for (const TraceFunction& function : trace.functions) {
    if (!function.calls.empty() ||
        std::vector<absl::string_view>(absl::StrSplit(function.id, '/')).size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat("WriteAzure2019Trace: function ", function.id,
                       " needs per-minute counts and an id owner/app/function"));
    }
    app_memory_mb[function.app] += function.memory_mb;
  }
  if (absl::Status status = FileSystem::Default()->CreateDirectories(dir); !status.ok()) {
    return status;
  }

  std::string header = "HashOwner,HashApp,HashFunction,Trigger";
  for (int minute = 1; minute <= kMinutesPerDay; ++minute) absl::StrAppend(&header, ",", minute);
  std::vector<size_t> next(trace.functions.size(), 0);  // per function, its first minute left
  std::vector<int32_t> counts(kMinutesPerDay);
  for (int64_t day = 0; day < days; ++day) {
    std::string invocations = header + "\n";
    std::string durations =
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,"
        "percentile_Average_1,percentile_Average_25,percentile_Average_50,"
        "percentile_Average_75,percentile_Average_99,percentile_Average_100\n";
    std::string memory =
        "HashOwner,HashApp,SampleCount,AverageAllocatedMb,AverageAllocatedMb_pct1,"
        "AverageAllocatedMb_pct5,AverageAllocatedMb_pct25,AverageAllocatedMb_pct50,"
        "AverageAllocatedMb_pct75,AverageAllocatedMb_pct95,AverageAllocatedMb_pct99,"
        "AverageAllocatedMb_pct100\n";
    std::map<std::string, int64_t> app_calls;  // apps active this day, sorted
    for (size_t f = 0; f < trace.functions.size(); ++f) {
      const TraceFunction& function = trace.functions[f];
      std::fill(counts.begin(), counts.end(), 0);
      int64_t total = 0;
      for (size_t& i = next[f];
           i < function.minutes.size() && function.minutes[i].minute < (day + 1) * kMinutesPerDay;
           ++i) {
        counts[function.minutes[i].minute - day * kMinutesPerDay] = function.minutes[i].count;
        total += function.minutes[i].count;
      }
      if (total == 0) continue;
      absl::StrAppend(&invocations, absl::StrReplaceAll(function.id, {{"/", ","}}), ",",
                      function.trigger, ",", absl::StrJoin(counts, ","), "\n");
      const std::string average =
          absl::StrFormat("%.3f", absl::ToDoubleMilliseconds(function.duration));
      absl::StrAppend(&durations, absl::StrReplaceAll(function.id, {{"/", ","}}), ",", average,
                      ",", total, ",", Repeat(average, 9), "\n");
      app_calls[function.app] += total;
    }
    for (const auto& [app, calls] : app_calls) {
      const std::string mb = absl::StrFormat("%.3f", app_memory_mb[app]);
      absl::StrAppend(&memory, absl::StrReplaceAll(app, {{"/", ","}}), ",", calls, ",",
                      Repeat(mb, 9), "\n");
    }
    const std::string suffix = absl::StrFormat(".anon.d%02d.csv", day + 1);
    for (const auto& [name, contents] :
         {std::pair<std::string, const std::string&>{"invocations_per_function_md", invocations},
          {"function_durations_percentiles", durations},
          {"app_memory_percentiles", memory}}) {
      if (absl::Status status = WriteTextFile(absl::StrCat(dir, "/", name, suffix), contents);
          !status.ok()) {
        return status;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace fnhost::sim
