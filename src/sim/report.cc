// Report: see the header.

#include "src/sim/report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace fnhost::sim {
namespace {

bool IsFixed(const PolicyResult& result) {
  return result.options.kind == KeepAliveOptions::Kind::kFixed;
}

// The fixed policies' results by wasted memory.
std::vector<const PolicyResult*> FixedCurve(const std::vector<PolicyResult>& results) {
  std::vector<const PolicyResult*> curve;
  for (const PolicyResult& result : results) {
    if (IsFixed(result)) curve.push_back(&result);
  }
  std::stable_sort(curve.begin(), curve.end(), [](const PolicyResult* a, const PolicyResult* b) {
    return a->wasted_memory_gb_s < b->wasted_memory_gb_s;
  });
  return curve;
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\"", "\"\""}}), "\"");
}

std::string XmlText(const std::string& text) {
  return absl::StrReplaceAll(text, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}});
}

// 1, 2 or 5 times a power of ten, at least `raw`.
double NiceStep(double raw) {
  if (!(raw > 0)) return 1;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0, 10.0}) {
    if (factor * power >= raw) return factor * power;
  }
  return 10 * power;
}

std::string TickLabel(double value) {
  if (value >= 1e6) return absl::StrFormat("%gM", value / 1e6);
  if (value >= 1e3) return absl::StrFormat("%gk", value / 1e3);
  return absl::StrFormat("%g", value);
}

// The label of a point: the keep-alive of fixed policies, the spec of others.
std::string PointLabel(const PolicyResult& result) {
  return IsFixed(result) ? absl::FormatDuration(result.options.idle_timeout) : result.policy;
}

}  // namespace

std::string FormatTable(const std::vector<PolicyResult>& results) {
  size_t width = 6;
  for (const PolicyResult& result : results) width = std::max(width, result.policy.size());
  const int w = static_cast<int>(width);
  std::string table = absl::StrFormat("%-*s %10s %12s %12s %10s %10s %14s %10s\n", w, "policy",
                                      "functions", "invocations", "cold starts", "cold rate",
                                      "p75 fn", "wasted GB-s", "prewarms");
  for (const PolicyResult& r : results) {
    absl::StrAppendFormat(&table, "%-*s %10d %12d %12d %9.3f%% %9.2f%% %14.1f %10d\n", w,
                          r.policy, r.functions, r.invocations, r.cold_starts,
                          100 * r.cold_start_rate, 100 * r.p75_function_cold_start_rate,
                          r.wasted_memory_gb_s, r.prewarm_loads);
  }
  return table;
}

std::string FormatCsv(const std::vector<PolicyResult>& results) {
  std::string csv =
      "policy,functions,invocations,cold_starts,cold_start_rate,p75_function_cold_start_rate,"
      "wasted_memory_gb_s,prewarm_loads\n";
  for (const PolicyResult& r : results) {
    absl::StrAppendFormat(&csv, "%s,%d,%d,%d,%.6f,%.6f,%.3f,%d\n", CsvField(r.policy),
                          r.functions, r.invocations, r.cold_starts, r.cold_start_rate,
                          r.p75_function_cold_start_rate, r.wasted_memory_gb_s,
                          r.prewarm_loads);
  }
  return csv;
}

std::optional<CurveComparison> CompareWithFixedCurve(const std::vector<PolicyResult>& results,
                                                     const PolicyResult& policy) {
  const std::vector<const PolicyResult*> curve = FixedCurve(results);
  const double memory = policy.wasted_memory_gb_s;
  for (size_t i = 0; i + 1 < curve.size(); ++i) {
    const PolicyResult& low = *curve[i];
    const PolicyResult& high = *curve[i + 1];
    if (memory < low.wasted_memory_gb_s || memory > high.wasted_memory_gb_s) continue;
    const double span = high.wasted_memory_gb_s - low.wasted_memory_gb_s;
    const double share = span > 0 ? (memory - low.wasted_memory_gb_s) / span : 0;
    CurveComparison comparison;
    comparison.policy = policy.policy;
    comparison.lower = low.policy;
    comparison.upper = high.policy;
    comparison.fixed_cold_starts =
        static_cast<double>(low.cold_starts) +
        share * static_cast<double>(high.cold_starts - low.cold_starts);
    comparison.reduction =
        comparison.fixed_cold_starts > 0
            ? 1 - static_cast<double>(policy.cold_starts) / comparison.fixed_cold_starts
            : 0;
    return comparison;
  }
  return std::nullopt;
}

std::string FormatComparisons(const std::vector<PolicyResult>& results) {
  std::string text;
  for (const PolicyResult& result : results) {
    if (IsFixed(result)) continue;
    std::optional<CurveComparison> c = CompareWithFixedCurve(results, result);
    if (!c.has_value()) {
      absl::StrAppendFormat(&text,
                            "%s: wasted memory %.1f GB-s is outside the fixed keep-alive "
                            "curve\n",
                            result.policy, result.wasted_memory_gb_s);
      continue;
    }
    absl::StrAppendFormat(&text,
                          "%s: %d cold starts at %.1f GB-s; the fixed curve there (between "
                          "%s and %s) has %.0f: %.1f%% fewer\n",
                          result.policy, result.cold_starts, result.wasted_memory_gb_s,
                          c->lower, c->upper, c->fixed_cold_starts, 100 * c->reduction);
  }
  return text;
}

std::string RenderSvg(const std::vector<PolicyResult>& results, const std::string& title) {
  constexpr double kWidth = 900, kHeight = 560;
  constexpr double kLeft = 90, kRight = 40, kTop = 60, kBottom = 70;
  double max_x = 0, max_y = 0;
  for (const PolicyResult& r : results) {
    max_x = std::max(max_x, r.wasted_memory_gb_s);
    max_y = std::max(max_y, 100 * r.cold_start_rate);
  }
  const double x_step = NiceStep(max_x / 6), y_step = NiceStep(max_y / 6);
  const double x_end = x_step * std::ceil(max_x * 1.05 / x_step);
  const double y_end = y_step * std::ceil(max_y * 1.1 / y_step);
  auto px = [&](double x) { return kLeft + x / x_end * (kWidth - kLeft - kRight); };
  auto py = [&](double y) { return kHeight - kBottom - y / y_end * (kHeight - kTop - kBottom); };

  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
      "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"13\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%g\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">%s</text>\n",
      kWidth, kHeight, kWidth, kHeight, kWidth / 2, XmlText(title));
  // Grid, ticks and tick labels.
  for (double x = 0; x <= x_end + x_step / 2; x += x_step) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                          px(x), py(0), px(x), py(y_end), px(x), py(0) + 20, TickLabel(x));
  }
  for (double y = 0; y <= y_end + y_step / 2; y += y_step) {
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s%%</text>\n",
                          px(0), py(y), px(x_end), py(y), px(0) - 8, py(y) + 4, TickLabel(y));
  }
  // Axes and their labels.
  absl::StrAppendFormat(
      &svg,
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">wasted memory (GB-s of idle "
      "instances)</text>\n"
      "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">"
      "cold-start rate (%% of invocations)</text>\n",
      px(0), py(0), px(x_end), py(0), px(0), py(0), px(0), py(y_end), (px(0) + px(x_end)) / 2,
      kHeight - 25, (py(0) + py(y_end)) / 2, (py(0) + py(y_end)) / 2);

  // The fixed keep-alive curve.
  const std::vector<const PolicyResult*> curve = FixedCurve(results);
  if (!curve.empty()) {
    std::string points;
    for (const PolicyResult* r : curve) {
      absl::StrAppendFormat(&points, "%.1f,%.1f ", px(r->wasted_memory_gb_s),
                            py(100 * r->cold_start_rate));
    }
    absl::StrAppendFormat(&svg,
                          "<polyline points=\"%s\" fill=\"none\" stroke=\"#1f77b4\" "
                          "stroke-width=\"2\"/>\n",
                          points);
  }
  for (const PolicyResult& r : results) {
    const double x = px(r.wasted_memory_gb_s), y = py(100 * r.cold_start_rate);
    const bool hybrid = r.options.kind == KeepAliveOptions::Kind::kHybrid;
    const char* colour = IsFixed(r) ? "#1f77b4" : hybrid ? "#d62728" : "#2ca02c";
    absl::StrAppendFormat(&svg,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"%s/>"
                          "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\"%s>%s</text>\n",
                          x, y, hybrid ? 7 : 4, colour,
                          hybrid ? " stroke=\"black\" stroke-width=\"1.5\"" : "", x + 8, y - 8,
                          colour, hybrid ? " font-weight=\"bold\"" : "",
                          XmlText(PointLabel(r)));
  }
  // Legend.
  const double lx = kWidth - kRight - 220, ly = kTop + 10;
  absl::StrAppendFormat(
      &svg,
      "<rect x=\"%.1f\" y=\"%.1f\" width=\"215\" height=\"66\" fill=\"white\" stroke=\"#999\"/>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" "
      "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">fixed keep-alive (label: idle "
      "timeout)</text>\n"
      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"#d62728\" stroke=\"black\"/>"
      "<text x=\"%.1f\" y=\"%.1f\">hybrid histogram policy</text>\n"
      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#2ca02c\"/>"
      "<text x=\"%.1f\" y=\"%.1f\">other policies</text>\n",
      lx, ly, lx + 8, ly + 15, lx + 28, ly + 15, lx + 34, ly + 19, lx + 18, ly + 34, lx + 34,
      ly + 38, lx + 18, ly + 53, lx + 34, ly + 57);
  svg += "</svg>\n";
  return svg;
}

}  // namespace fnhost::sim
