// PrometheusTextWriter: appends metric families to a string in the Prometheus text exposition
// format, version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
// The caller writes each family's samples right after its StartFamily, and passes metric and
// label names that are valid Prometheus identifiers; label values may be any bytes.
// Thread-safety: none; one writer per output string.

#ifndef FNHOST_SRC_METRICS_PROMETHEUS_TEXT_H_
#define FNHOST_SRC_METRICS_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace fnhost::internal {

struct PromLabel {
  std::string_view name;
  std::string_view value;
};

enum class PromType { kCounter, kGauge, kHistogram };

// Escapes a label value as the format requires: backslash, double quote and line feed.
std::string EscapeLabelValue(std::string_view value);

// Formats a sample value or bound as client_golang does: the shortest form that reads back
// exactly, exponent notation outside [1e-4, 1e6), and "+Inf", "-Inf", "NaN".
std::string FormatPromDouble(double value);

class PrometheusTextWriter {
 public:
  explicit PrometheusTextWriter(std::string* out) : out_(out) {}

  // Writes the family's `# HELP` and `# TYPE` lines. `help` must be a single line.
  void StartFamily(std::string_view name, PromType type, std::string_view help);

  void Sample(std::string_view name, std::initializer_list<PromLabel> labels, int64_t value);
  void Sample(std::string_view name, std::initializer_list<PromLabel> labels, double value);

  // Writes a histogram's cumulative `_bucket` lines (one per bound, then le="+Inf"), `_sum`
  // and `_count`. `counts` holds the non-cumulative count of each bucket and, last, of the
  // +Inf bucket, so it has one entry more than `upper_bounds`.
  void Histogram(std::string_view name, std::initializer_list<PromLabel> labels,
                 std::span<const double> upper_bounds, std::span<const int64_t> counts, double sum);

 private:
  // Writes `name{labels,extra} value\n`; `extra` is an already formatted label or empty.
  void Line(std::string_view name, std::string_view labels, std::string_view extra,
            std::string_view value);

  std::string* out_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_METRICS_PROMETHEUS_TEXT_H_
