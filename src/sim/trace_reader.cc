// ReadTrace: the Azure Functions 2019 and 2021 trace formats (see the header).

#include "src/sim/trace_reader.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/strings.h"

namespace fnhost::sim {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kInvocationsPrefix = "invocations_per_function_md.anon.";
constexpr int kMinutesPerDay = 24 * 60;

// A CSV file read one row at a time. Fields are not quoted in these traces.
class CsvReader {
 public:
  explicit CsvReader(std::string path) : path_(std::move(path)), in_(path_) {}

  absl::Status status() const {
    return in_.is_open() ? absl::OkStatus()
                         : absl::NotFoundError(absl::StrCat("ReadTrace: cannot open ", path_));
  }
  // The next non-empty row; false at the end of the file. `fields` stay valid until the next
  // call.
  bool Next(std::vector<absl::string_view>* fields) {
    while (std::getline(in_, line_)) {
      ++line_number_;
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      if (line_.empty()) continue;
      *fields = absl::StrSplit(line_, ',');
      return true;
    }
    return false;
  }
  absl::Status Error(std::string_view cause) const {
    return absl::InvalidArgumentError(
        absl::StrCat("ReadTrace: ", path_, ":", line_number_, ": ", AsAbsl(cause)));
  }
  // The index of each of `names` in `header`.
  absl::StatusOr<std::vector<size_t>> Columns(const std::vector<absl::string_view>& header,
                                              const std::vector<std::string_view>& names) const {
    std::vector<size_t> columns;
    for (std::string_view name : names) {
      auto it = std::find(header.begin(), header.end(), AsAbsl(name));
      if (it == header.end()) return Error(absl::StrCat("no column ", AsAbsl(name)));
      columns.push_back(static_cast<size_t>(it - header.begin()));
    }
    return columns;
  }
  // Checks that a row has as many fields as the header.
  absl::Status CheckWidth(const std::vector<absl::string_view>& row, size_t width) const {
    if (row.size() == width) return absl::OkStatus();
    return Error(absl::StrCat(row.size(), " fields where the header has ", width));
  }

 private:
  std::string path_;
  std::ifstream in_;
  std::string line_;
  int line_number_ = 0;
};

enum class Format { kAzure2019, kInvitro, kAzure2021 };

// Where the fields of a per-minute invocations file are: Azure 2019
// (HashOwner,HashApp,HashFunction,Trigger,1..1440) or invitro's sampler
// (HashFunction,HashApp,HashOwner,minute_1..minute_N).
struct MinuteLayout {
  Format format = Format::kAzure2019;
  int owner = 0, app = 1, function = 2, trigger = 3;  // trigger -1: none
  int first_minute = 4;
  int minutes = kMinutesPerDay;
};

// The layout of a per-minute header, or nullopt when it is neither; an error when it starts
// like one but its minute columns are wrong.
absl::StatusOr<std::optional<MinuteLayout>> MinuteLayoutOf(
    const std::vector<absl::string_view>& header, const CsvReader& reader) {
  MinuteLayout layout;
  std::string_view prefix;
  if (header.size() >= 4 && header[0] == "HashOwner" && header[1] == "HashApp" &&
      header[2] == "HashFunction" && header[3] == "Trigger") {
    if (header.size() != 4 + kMinutesPerDay) {
      return reader.Error(absl::StrCat(header.size() - 4, " minute columns, expected ",
                                       kMinutesPerDay));
    }
  } else if (header.size() >= 4 && header[0] == "HashFunction" && header[1] == "HashApp" &&
             header[2] == "HashOwner") {
    layout = MinuteLayout{Format::kInvitro, 2, 1, 0, -1, 3,
                          static_cast<int>(header.size()) - 3};
    prefix = "minute_";
  } else {
    return std::nullopt;
  }
  for (int minute = 1; minute <= layout.minutes; ++minute) {
    const absl::string_view column = header[layout.first_minute + minute - 1];
    if (column != absl::StrCat(AsAbsl(prefix), minute)) {
      const std::string expected = prefix.empty()
                                       ? absl::StrCat("minute ", minute)
                                       : absl::StrCat("\"", AsAbsl(prefix), minute, "\"");
      return reader.Error(absl::StrCat("column ", layout.first_minute + minute, " is \"",
                                       column, "\", expected ", expected));
    }
  }
  return layout;
}

absl::StatusOr<Format> DetectFormat(const std::string& path) {
  CsvReader reader(path);
  if (absl::Status status = reader.status(); !status.ok()) return status;
  std::vector<absl::string_view> header;
  if (!reader.Next(&header)) return reader.Error("empty file");
  absl::StatusOr<std::optional<MinuteLayout>> layout = MinuteLayoutOf(header, reader);
  if (!layout.ok()) return layout.status();
  if (layout->has_value()) return (*layout)->format;
  if (header.size() == 4 && header[0] == "app" && header[1] == "func" &&
      header[2] == "end_timestamp" && header[3] == "duration") {
    return Format::kAzure2021;
  }
  return reader.Error(
      "the header is neither Azure Functions 2019 invocations "
      "(HashOwner,HashApp,HashFunction,Trigger,1..1440), invitro's "
      "(HashFunction,HashApp,HashOwner,minute_1..minute_N) nor Azure Functions 2021 "
      "(app,func,end_timestamp,duration)");
}

// Directories become their invocation files, by name.
absl::StatusOr<std::vector<std::string>> ExpandPaths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code error;
    if (!fs::is_directory(path, error)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> days;
    for (const fs::directory_entry& entry : fs::directory_iterator(path, error)) {
      const std::string name = entry.path().filename().string();
      if (absl::StartsWith(name, AsAbsl(kInvocationsPrefix)) && absl::EndsWith(name, ".csv")) {
        days.push_back(entry.path().string());
      }
    }
    if (error || days.empty()) {
      return absl::NotFoundError(absl::StrCat("ReadTrace: directory ", path, " holds no ",
                                              AsAbsl(kInvocationsPrefix), "dNN.csv file"));
    }
    std::sort(days.begin(), days.end());
    files.insert(files.end(), days.begin(), days.end());
  }
  return files;
}

// Functions by id, in order of first appearance, with a default memory per app.
class TraceBuilder {
 public:
  TraceFunction& Function(absl::string_view app, absl::string_view id, bool* added) {
    auto [it, inserted] = index_.try_emplace(id, trace_.functions.size());
    *added = inserted;
    if (inserted) {
      trace_.functions.emplace_back();
      trace_.functions.back().id = std::string(id);
      trace_.functions.back().app = std::string(app);
    }
    return trace_.functions[it->second];
  }
  TraceFunction* Find(absl::string_view id) {
    auto it = index_.find(id);
    return it == index_.end() ? nullptr : &trace_.functions[it->second];
  }
  // Shares each app's memory (or the default) among its functions.
  Trace Finish(const absl::flat_hash_map<std::string, double>& app_memory_mb,
               absl::Duration length) {
    absl::flat_hash_map<std::string, int> functions_per_app;
    for (const TraceFunction& function : trace_.functions) ++functions_per_app[function.app];
    for (TraceFunction& function : trace_.functions) {
      auto it = app_memory_mb.find(function.app);
      function.memory_mb = (it == app_memory_mb.end() ? kDefaultAppMemoryMb : it->second) /
                           functions_per_app[function.app];
    }
    for (const auto& [app, count] : functions_per_app) {
      if (!app_memory_mb.contains(app)) ++trace_.apps_without_memory;
    }
    trace_.length = length;
    return std::move(trace_);
  }
  Trace& trace() { return trace_; }

 private:
  Trace trace_;
  absl::flat_hash_map<std::string, size_t> index_;
};

// Reads a side file's `value_column` per key (the first `key_columns` joined by '/'), keeping
// the first value seen for each key. A missing file is not an error.
absl::Status ReadSideFile(const fs::path& path, const std::vector<std::string_view>& key_columns,
                          std::string_view value_column,
                          absl::flat_hash_map<std::string, double>* values) {
  std::error_code error;
  if (!fs::exists(path, error)) return absl::OkStatus();
  CsvReader reader(path.string());
  if (absl::Status status = reader.status(); !status.ok()) return status;
  std::vector<absl::string_view> row;
  if (!reader.Next(&row)) return absl::OkStatus();
  std::vector<std::string_view> names = key_columns;
  names.push_back(value_column);
  absl::StatusOr<std::vector<size_t>> columns = reader.Columns(row, names);
  if (!columns.ok()) return columns.status();
  const size_t width = row.size();
  while (reader.Next(&row)) {
    if (absl::Status status = reader.CheckWidth(row, width); !status.ok()) return status;
    std::string key;
    for (size_t i = 0; i < key_columns.size(); ++i) {
      absl::StrAppend(&key, i == 0 ? "" : "/", row[(*columns)[i]]);
    }
    double value;
    if (!absl::SimpleAtod(row[columns->back()], &value) || !(value >= 0)) {
      return reader.Error(absl::StrCat(AsAbsl(value_column), " \"", row[columns->back()],
                                       "\" is not a non-negative number"));
    }
    values->try_emplace(std::move(key), value);
  }
  return absl::OkStatus();
}

// The side files of a per-minute invocations file: durations and memory.
struct SideFiles {
  fs::path durations;
  fs::path memory;
};
SideFiles SideFilesOf(const std::string& file, Format format) {
  const fs::path path(file);
  const std::string name = path.filename().string();
  if (format == Format::kInvitro && absl::EndsWith(name, "_inv.csv")) {
    const std::string stem = name.substr(0, name.size() - std::string_view("inv.csv").size());
    return {path.parent_path() / (stem + "run.csv"), path.parent_path() / (stem + "mem.csv")};
  }
  if (absl::StartsWith(name, AsAbsl(kInvocationsPrefix))) {
    const std::string suffix = name.substr(kInvocationsPrefix.size());
    return {path.parent_path() / ("function_durations_percentiles.anon." + suffix),
            path.parent_path() / ("app_memory_percentiles.anon." + suffix)};
  }
  return {path.parent_path() / "durations.csv", path.parent_path() / "memory.csv"};
}

absl::StatusOr<Trace> ReadPerMinute(const std::vector<std::string>& files) {
  TraceBuilder builder;
  absl::flat_hash_map<std::string, double> duration_ms;
  absl::flat_hash_map<std::string, double> app_memory_mb;
  std::vector<absl::string_view> row;
  int64_t minutes_so_far = 0;
  for (const std::string& file : files) {
    CsvReader reader(file);
    if (absl::Status status = reader.status(); !status.ok()) return status;
    reader.Next(&row);  // the header, checked by DetectFormat
    absl::StatusOr<std::optional<MinuteLayout>> found = MinuteLayoutOf(row, reader);
    if (!found.ok()) return found.status();
    const MinuteLayout layout = **found;
    const size_t width = row.size();
    while (reader.Next(&row)) {
      if (absl::Status status = reader.CheckWidth(row, width); !status.ok()) return status;
      const absl::string_view owner = row[layout.owner], app = row[layout.app];
      bool added;
      TraceFunction& function =
          builder.Function(absl::StrCat(owner, "/", app),
                           absl::StrCat(owner, "/", app, "/", row[layout.function]), &added);
      if (added && layout.trigger >= 0) function.trigger = std::string(row[layout.trigger]);
      for (int minute = 0; minute < layout.minutes; ++minute) {
        const absl::string_view field = row[layout.first_minute + minute];
        if (field == "0") continue;
        int count;
        if (!absl::SimpleAtoi(field, &count) || count < 0) {
          return reader.Error(absl::StrCat("minute ", minute + 1, ": \"", field,
                                           "\" is not a count of calls"));
        }
        if (count > 0) {
          function.minutes.push_back({static_cast<int32_t>(minutes_so_far + minute), count});
        }
      }
    }
    minutes_so_far += layout.minutes;
    const SideFiles side = SideFilesOf(file, layout.format);
    if (absl::Status status = ReadSideFile(side.durations,
                                           {"HashOwner", "HashApp", "HashFunction"}, "Average",
                                           &duration_ms);
        !status.ok()) {
      return status;
    }
    if (absl::Status status = ReadSideFile(side.memory, {"HashOwner", "HashApp"},
                                           "AverageAllocatedMb", &app_memory_mb);
        !status.ok()) {
      return status;
    }
  }
  for (TraceFunction& function : builder.trace().functions) {
    auto it = duration_ms.find(function.id);
    if (it == duration_ms.end()) ++builder.trace().functions_without_duration;
    function.duration = it == duration_ms.end() ? kDefaultDuration
                                                : absl::Microseconds(it->second * 1000);
  }
  return builder.Finish(app_memory_mb, absl::Minutes(minutes_so_far));
}

absl::StatusOr<Trace> ReadAzure2021(const std::string& file) {
  CsvReader reader(file);
  if (absl::Status status = reader.status(); !status.ok()) return status;
  std::vector<absl::string_view> row;
  reader.Next(&row);  // the header, checked by DetectFormat
  TraceBuilder builder;
  double length_s = 0;
  while (reader.Next(&row)) {
    if (absl::Status status = reader.CheckWidth(row, 4); !status.ok()) return status;
    double end_s, duration_s;
    if (!absl::SimpleAtod(row[2], &end_s) || !(end_s >= 0) || !std::isfinite(end_s) ||
        !absl::SimpleAtod(row[3], &duration_s) || !(duration_s >= 0) ||
        !std::isfinite(duration_s)) {
      return reader.Error(absl::StrCat("end_timestamp \"", row[2], "\" and duration \"", row[3],
                                       "\" are not non-negative numbers of seconds"));
    }
    bool added;
    TraceFunction& function = builder.Function(row[0], absl::StrCat(row[0], "/", row[1]), &added);
    function.calls.push_back(Call{absl::Seconds(std::max(0.0, end_s - duration_s)),
                                  absl::Seconds(duration_s)});
    length_s = std::max(length_s, end_s);
  }
  for (TraceFunction& function : builder.trace().functions) {
    std::stable_sort(function.calls.begin(), function.calls.end(),
                     [](const Call& a, const Call& b) { return a.arrival < b.arrival; });
  }
  return builder.Finish({}, absl::Seconds(length_s));
}

}  // namespace

absl::StatusOr<Trace> ReadTrace(const std::vector<std::string>& paths) {
  absl::StatusOr<std::vector<std::string>> files = ExpandPaths(paths);
  if (!files.ok()) return files.status();
  if (files->empty()) return absl::InvalidArgumentError("ReadTrace: no trace file given");
  std::optional<Format> format;
  for (const std::string& file : *files) {
    absl::StatusOr<Format> this_format = DetectFormat(file);
    if (!this_format.ok()) return this_format.status();
    if (format.has_value() && *format != *this_format) {
      return absl::InvalidArgumentError(
          absl::StrCat("ReadTrace: ", file, " is not in the format of ", files->front()));
    }
    format = *this_format;
  }
  if (*format != Format::kAzure2021) return ReadPerMinute(*files);
  if (files->size() != 1) {
    return absl::InvalidArgumentError(
        "ReadTrace: an Azure Functions 2021 trace is a single file");
  }
  return ReadAzure2021(files->front());
}

}  // namespace fnhost::sim
