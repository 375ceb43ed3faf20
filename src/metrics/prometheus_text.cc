// PrometheusTextWriter: the text exposition format's escaping and line layout.

#include "src/metrics/prometheus_text.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost::internal {
namespace {

std::string_view TypeName(PromType type) {
  switch (type) {
    case PromType::kCounter:
      return "counter";
    case PromType::kGauge:
      return "gauge";
    case PromType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `a="x",b="y"`, without braces.
std::string FormatLabels(std::initializer_list<PromLabel> labels) {
  std::string out;
  for (const PromLabel& label : labels) {
    if (!out.empty()) out += ',';
    absl::StrAppend(&out, AsAbsl(label.name), "=\"", EscapeLabelValue(label.value), "\"");
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatPromDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // The shortest digits that read back as `value`, laid out as Go's %g does (exponent form
  // below 1e-4 and from 1e6 up), because client_golang renders le="0.0005" and dashboards
  // match bucket labels as strings.
  char buffer[64];
  auto result =
      std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  const std::string_view scientific(buffer, result.ptr - buffer);
  int exponent = 0;
  const std::string_view digits = scientific.substr(scientific.find('e') + 1);
  std::from_chars(digits.data() + (digits.front() == '+'), digits.data() + digits.size(), exponent);
  if (exponent < -4 || exponent >= 6) return std::string(scientific);
  result = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::fixed);
  return std::string(buffer, result.ptr);
}

void PrometheusTextWriter::StartFamily(std::string_view name, PromType type,
                                       std::string_view help) {
  absl::StrAppend(out_, "# HELP ", AsAbsl(name), " ", AsAbsl(help), "\n");
  absl::StrAppend(out_, "# TYPE ", AsAbsl(name), " ", AsAbsl(TypeName(type)), "\n");
}

void PrometheusTextWriter::Sample(std::string_view name, std::initializer_list<PromLabel> labels,
                                  int64_t value) {
  Line(name, FormatLabels(labels), "", absl::StrCat(value));
}

void PrometheusTextWriter::Sample(std::string_view name, std::initializer_list<PromLabel> labels,
                                  double value) {
  Line(name, FormatLabels(labels), "", FormatPromDouble(value));
}

void PrometheusTextWriter::Histogram(std::string_view name, std::initializer_list<PromLabel> labels,
                                     std::span<const double> upper_bounds,
                                     std::span<const int64_t> counts, double sum) {
  const std::string formatted = FormatLabels(labels);
  const std::string bucket_name = absl::StrCat(AsAbsl(name), "_bucket");
  int64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    const std::string le = i < upper_bounds.size() ? FormatPromDouble(upper_bounds[i]) : "+Inf";
    Line(bucket_name, formatted, absl::StrCat("le=\"", le, "\""), absl::StrCat(cumulative));
  }
  Line(absl::StrCat(AsAbsl(name), "_sum"), formatted, "", FormatPromDouble(sum));
  Line(absl::StrCat(AsAbsl(name), "_count"), formatted, "", absl::StrCat(cumulative));
}

void PrometheusTextWriter::Line(std::string_view name, std::string_view labels,
                                std::string_view extra, std::string_view value) {
  out_->append(name);
  if (!labels.empty() || !extra.empty()) {
    out_->push_back('{');
    out_->append(labels);
    if (!labels.empty() && !extra.empty()) out_->push_back(',');
    out_->append(extra);
    out_->push_back('}');
  }
  out_->push_back(' ');
  out_->append(value);
  out_->push_back('\n');
}

}  // namespace fnhost::internal
