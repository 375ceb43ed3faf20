// Report: see the header.

#include "src/sim/report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace fnhost::sim {
namespace {

// A fixed keep-alive, the same for every instance or scaled by its memory.
bool IsFixed(const PolicyResult& result, bool by_memory = false) {
  return result.options.kind == KeepAliveOptions::Kind::kFixed &&
         result.options.scale_by_memory == by_memory && result.memory_budget_gb == 0;
}

// The fixed policies' results by wasted memory.
std::vector<const PolicyResult*> FixedCurve(const std::vector<PolicyResult>& results,
                                            bool by_memory = false) {
  std::vector<const PolicyResult*> curve;
  for (const PolicyResult& result : results) {
    if (IsFixed(result, by_memory)) curve.push_back(&result);
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

// The label of a point: the keep-alive of fixed policies (scaled or not: their curves tell
// them apart), the spec of others.
std::string PointLabel(const PolicyResult& result) {
  return result.options.kind == KeepAliveOptions::Kind::kFixed
             ? absl::FormatDuration(result.options.idle_timeout)
             : result.policy;
}

// "12.5% fewer" or "25.0% more" for a reduction of 0.125 or -0.25.
std::string Change(double reduction) {
  return absl::StrFormat("%.1f%% %s", 100 * std::abs(reduction),
                         reduction >= 0 ? "fewer" : "more");
}

}  // namespace

std::string FormatTable(const std::vector<PolicyResult>& results) {
  size_t width = 6;
  for (const PolicyResult& result : results) width = std::max(width, result.policy.size());
  const int w = static_cast<int>(width);
  std::string table = absl::StrFormat("%-*s %9s %11s %11s %9s %8s %13s %9s %9s\n", w, "policy",
                                      "functions", "invocations", "cold starts", "cold rate",
                                      "p75 fn", "wasted GB-s", "prewarms", "loads");
  for (const PolicyResult& r : results) {
    absl::StrAppendFormat(&table, "%-*s %9d %11d %11d %8.3f%% %7.2f%% %13.1f %9d %9d\n", w,
                          r.policy, r.functions, r.invocations, r.cold_starts,
                          100 * r.cold_start_rate, 100 * r.p75_function_cold_start_rate,
                          r.wasted_memory_gb_s, r.prewarm_loads, r.load_cold_starts);
  }
  return table;
}

std::string FormatCsv(const std::vector<PolicyResult>& results) {
  std::string csv =
      "policy,functions,invocations,cold_starts,cold_start_rate,p75_function_cold_start_rate,"
      "wasted_memory_gb_s,prewarm_loads,load_cold_starts\n";
  for (const PolicyResult& r : results) {
    absl::StrAppendFormat(&csv, "%s,%d,%d,%d,%.6f,%.6f,%.3f,%d,%d\n", CsvField(r.policy),
                          r.functions, r.invocations, r.cold_starts, r.cold_start_rate,
                          r.p75_function_cold_start_rate, r.wasted_memory_gb_s,
                          r.prewarm_loads, r.load_cold_starts);
  }
  return csv;
}

std::optional<CurveComparison> CompareWithFixedCurve(const std::vector<PolicyResult>& results,
                                                     const PolicyResult& policy,
                                                     int64_t PolicyResult::*count,
                                                     bool by_memory) {
  const std::vector<const PolicyResult*> curve = FixedCurve(results, by_memory);
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
    comparison.fixed_count = static_cast<double>(low.*count) +
                             share * static_cast<double>(high.*count - low.*count);
    comparison.reduction =
        comparison.fixed_count > 0
            ? 1 - static_cast<double>(policy.*count) / comparison.fixed_count
            : 0;
    return comparison;
  }
  return std::nullopt;
}

std::string FormatComparisons(const std::vector<PolicyResult>& results) {
  std::string text;
  for (const PolicyResult& result : results) {
    // Under a memory budget idle memory is capped, so the curve without one says nothing.
    if (IsFixed(result) || result.memory_budget_gb > 0) continue;
    const std::pair<const char*, int64_t PolicyResult::*> counts[] = {
        {"cold starts", &PolicyResult::cold_starts}, {"loads", &PolicyResult::load_cold_starts}};
    for (const auto& [name, count] : counts) {
      std::optional<CurveComparison> c = CompareWithFixedCurve(results, result, count);
      if (!c.has_value()) {
        absl::StrAppendFormat(&text,
                              "%s: wasted memory %.1f GB-s is outside the fixed keep-alive "
                              "curve\n",
                              result.policy, result.wasted_memory_gb_s);
        break;
      }
      absl::StrAppendFormat(&text,
                            "%s: %d %s at %.1f GB-s; the fixed curve there (between %s and "
                            "%s) has %.0f: %s\n",
                            result.policy, result.*count, name, result.wasted_memory_gb_s,
                            c->lower, c->upper, c->fixed_count, Change(c->reduction));
    }
    if (IsFixed(result, /*by_memory=*/true)) continue;
    if (std::optional<CurveComparison> c = CompareWithFixedCurve(
            results, result, &PolicyResult::cold_starts, /*by_memory=*/true);
        c.has_value()) {
      absl::StrAppendFormat(&text,
                            "%s: the by-memory fixed curve there (between %s and %s) has %.0f "
                            "cold starts: %s\n",
                            result.policy, c->lower, c->upper, c->fixed_count,
                            Change(c->reduction));
    }
  }
  return text;
}

std::string FormatBreakdown(const std::vector<PolicyResult>& results) {
  std::string text;
  for (const PolicyResult& r : results) {
    absl::StrAppendFormat(&text, "%s by function class and instance level:\n", r.policy);
    absl::StrAppendFormat(&text, "  %-7s %5s %10s %8s %7s", "class", "fns", "calls", "cold",
                          "loads");
    for (int g = 0; g < kLevelGroups; ++g) {
      absl::StrAppendFormat(&text, " %7s", absl::StrCat("cold@", LevelGroupName(g)));
    }
    absl::StrAppendFormat(&text, " %9s", "GB-s");
    for (int g = 0; g < kLevelGroups; ++g) {
      absl::StrAppendFormat(&text, " %9s", absl::StrCat("GB-s@", LevelGroupName(g)));
    }
    absl::StrAppendFormat(&text, " %9s %7s %8s %9s\n", "prewarmed", "unused", "cold@2nd",
                          "GB-s@2nd");
    ClassResult all;
    auto row = [&](const char* name, const ClassResult& c) {
      const FunctionResult& sum = c.sum;
      const Breakdown& b = sum.breakdown;
      absl::StrAppendFormat(&text, "  %-7s %5d %10d %8d %7d", name, c.functions,
                            sum.invocations, sum.cold_starts, sum.load_cold_starts);
      for (int g = 0; g < kLevelGroups; ++g) {
        absl::StrAppendFormat(&text, " %7d", b.cold_starts[g]);
      }
      absl::StrAppendFormat(&text, " %9.0f", sum.wasted_memory_gb_s);
      for (int g = 0; g < kLevelGroups; ++g) {
        absl::StrAppendFormat(&text, " %9.0f", b.wasted_memory_gb_s[g]);
      }
      absl::StrAppendFormat(&text, " %9.0f %7d %8d %9.0f\n", b.prewarmed_gb_s, b.prewarms_unused,
                            b.second_half_cold_starts, b.second_half_gb_s);
    };
    for (int k = 0; k < kFunctionClasses; ++k) {
      const ClassResult& c = r.by_class[k];
      row(FunctionClassName(static_cast<FunctionClass>(k)), c);
      all.functions += c.functions;
      all.sum.Add(c.sum);
    }
    row("all", all);
  }
  return text;
}

std::string FormatBudgets(const std::vector<PolicyResult>& results) {
  std::string text;
  for (const PolicyResult& r : results) {
    if (r.memory_budget_gb == 0) continue;
    if (text.empty()) {
      text = absl::StrFormat("%-28s %11s %9s %8s %9s %11s %11s %9s\n", "under a memory budget",
                             "cold starts", "loads", "p75 fn", "wasted GB-s", "evictions",
                             "over budget", "peak GB");
    }
    absl::StrAppendFormat(&text, "%-28s %11d %9d %7.2f%% %11.1f %11d %11d %9.1f\n", r.policy,
                          r.cold_starts, r.load_cold_starts,
                          100 * r.p75_function_cold_start_rate, r.wasted_memory_gb_s,
                          r.budget_evictions, r.over_budget, r.peak_memory_gb);
  }
  return text;
}

namespace {

constexpr double kWidth = 900, kHeight = 580;
constexpr double kLeft = 90, kRight = 40, kTop = 60, kBottom = 70;

// Where the chart puts a point. x: wasted memory, linear from 0. y: cold-start rate in %, log
// scale over whole decades (rates run from 100% for fixed:0 down to hundredths of a percent).
struct Chart {
  explicit Chart(const std::vector<PolicyResult>& results) {
    double max_x = 0, min_y = 100, max_y = 0;
    for (const PolicyResult& r : results) {
      max_x = std::max(max_x, r.wasted_memory_gb_s);
      const double rate = 100 * r.cold_start_rate;
      if (rate > 0) min_y = std::min(min_y, rate);
      max_y = std::max(max_y, rate);
    }
    x_step = NiceStep(max_x / 6);
    x_end = x_step * std::max(1.0, std::ceil(max_x * 1.05 / x_step));
    low_decade = std::floor(std::log10(min_y));
    high_decade = std::max(low_decade + 1, std::ceil(std::log10(std::max(max_y, min_y))));
    y_bottom = std::pow(10.0, low_decade);
    y_top = std::pow(10.0, high_decade);
  }
  double X(double x) const { return kLeft + x / x_end * (kWidth - kLeft - kRight); }
  double Y(double rate) const {
    const double decades = rate > 0 ? std::max(std::log10(rate), low_decade) : low_decade;
    return kHeight - kBottom -
           (decades - low_decade) / (high_decade - low_decade) * (kHeight - kTop - kBottom);
  }

  double x_step, x_end, low_decade, high_decade, y_bottom, y_top;
};

// Grid, ticks and tick labels, then the axes and their labels.
void AppendAxes(const Chart& c, std::string* svg) {
  for (double x = 0; x <= c.x_end + c.x_step / 2; x += c.x_step) {
    absl::StrAppendFormat(svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                          c.X(x), c.Y(c.y_bottom), c.X(x), c.Y(c.y_top), c.X(x),
                          c.Y(c.y_bottom) + 20, TickLabel(x));
  }
  for (double decade = c.low_decade; decade <= c.high_decade; ++decade) {
    const double y = std::pow(10.0, decade);
    absl::StrAppendFormat(svg,
                          "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g%%</text>\n",
                          c.X(0), c.Y(y), c.X(c.x_end), c.Y(y), c.X(0) - 8, c.Y(y) + 4, y);
    for (double factor : {2.0, 5.0}) {
      if (decade == c.high_decade) break;
      absl::StrAppendFormat(svg,
                            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                            "stroke=\"#eee\"/>\n",
                            c.X(0), c.Y(factor * y), c.X(c.x_end), c.Y(factor * y));
    }
  }
  absl::StrAppendFormat(
      svg,
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"black\"/>\n"
      "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">wasted memory (GB-s of idle "
      "instances)</text>\n"
      "<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 20 %.1f)\">"
      "cold-start rate (%% of invocations, log scale)</text>\n",
      c.X(0), c.Y(c.y_bottom), c.X(c.x_end), c.Y(c.y_bottom), c.X(0), c.Y(c.y_bottom), c.X(0),
      c.Y(c.y_top), (c.X(0) + c.X(c.x_end)) / 2, kHeight - 25,
      (c.Y(c.y_bottom) + c.Y(c.y_top)) / 2, (c.Y(c.y_bottom) + c.Y(c.y_top)) / 2);
}

// The fixed keep-alive curves (plain, and scaled by memory, dashed), then every policy's
// point; fixed and hybrid labels above, others (the by-memory curve) below, so that they do
// not cover each other.
void AppendResults(const Chart& c, const std::vector<PolicyResult>& results, std::string* svg) {
  for (const bool by_memory : {false, true}) {
    const std::vector<const PolicyResult*> curve = FixedCurve(results, by_memory);
    if (curve.empty()) continue;
    std::string points;
    for (const PolicyResult* r : curve) {
      absl::StrAppendFormat(&points, "%.1f,%.1f ", c.X(r->wasted_memory_gb_s),
                            c.Y(100 * r->cold_start_rate));
    }
    absl::StrAppendFormat(svg,
                          "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" "
                          "stroke-width=\"2\"%s/>\n",
                          points, by_memory ? "#2ca02c" : "#1f77b4",
                          by_memory ? " stroke-dasharray=\"6 4\"" : "");
  }
  for (const PolicyResult& r : results) {
    const double x = c.X(r.wasted_memory_gb_s), y = c.Y(100 * r.cold_start_rate);
    const bool hybrid = r.options.kind == KeepAliveOptions::Kind::kHybrid;
    const char* colour = IsFixed(r) ? "#1f77b4" : hybrid ? "#d62728" : "#2ca02c";
    absl::StrAppendFormat(svg,
                          "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"%s/>"
                          "<text x=\"%.1f\" y=\"%.1f\" fill=\"%s\"%s>%s</text>\n",
                          x, y, hybrid ? 7 : 4, colour,
                          hybrid ? " stroke=\"black\" stroke-width=\"1.5\"" : "", x + 8,
                          IsFixed(r) || hybrid ? y - 10 : y + 20, colour,
                          hybrid ? " font-weight=\"bold\"" : "", XmlText(PointLabel(r)));
  }
}

void AppendLegend(std::string* svg) {
  const double lx = kWidth - kRight - 330, ly = kTop + 10;
  absl::StrAppendFormat(
      svg,
      "<rect x=\"%.1f\" y=\"%.1f\" width=\"325\" height=\"85\" fill=\"white\" "
      "stroke=\"#999\"/>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#1f77b4\" "
      "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">fixed keep-alive (label: idle "
      "timeout)</text>\n"
      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#2ca02c\" "
      "stroke-width=\"2\" stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%.1f\">fixed, "
      "by memory (label: timeout at 128 MB)</text>\n"
      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"7\" fill=\"#d62728\" stroke=\"black\"/>"
      "<text x=\"%.1f\" y=\"%.1f\">hybrid histogram policy</text>\n"
      "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#2ca02c\"/>"
      "<text x=\"%.1f\" y=\"%.1f\">other policies</text>\n",
      lx, ly, lx + 8, ly + 15, lx + 28, ly + 15, lx + 34, ly + 19, lx + 8, ly + 34, lx + 28,
      ly + 34, lx + 34, ly + 38, lx + 18, ly + 53, lx + 34, ly + 57, lx + 18, ly + 72,
      lx + 34, ly + 76);
}

}  // namespace

std::string RenderSvg(const std::vector<PolicyResult>& all_results, const std::string& title) {
  std::vector<PolicyResult> results;  // the chart has no axis for a budget
  for (const PolicyResult& r : all_results) {
    if (r.memory_budget_gb == 0) results.push_back(r);
  }
  const Chart chart(results);
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
      "viewBox=\"0 0 %g %g\" font-family=\"sans-serif\" font-size=\"13\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      "<text x=\"%g\" y=\"30\" text-anchor=\"middle\" font-size=\"16\">%s</text>\n",
      kWidth, kHeight, kWidth, kHeight, kWidth / 2, XmlText(title));
  AppendAxes(chart, &svg);
  AppendResults(chart, results, &svg);
  AppendLegend(&svg);
  svg += "</svg>\n";
  return svg;
}

}  // namespace fnhost::sim
