#include "src/metrics/module_metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "src/common/strings.h"

namespace fnhost::internal {
namespace {

constexpr double kDefaultBounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

PromType TypeOf(ModuleMetricDefinition::Kind kind) {
  switch (kind) {
    case ModuleMetricDefinition::Kind::kGauge:
      return PromType::kGauge;
    case ModuleMetricDefinition::Kind::kHistogram:
      return PromType::kHistogram;
    default:
      return PromType::kCounter;
  }
}

}  // namespace

void ModuleMetrics::Series::Record(double value) {
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), value) - bounds.begin());
  counts[bucket].fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + value, std::memory_order_relaxed)) {
  }
}

ModuleMetric* ModuleMetrics::Define(const ModuleMetricDefinition& definition) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool known = families_.Find(definition.name) != nullptr;
  Family& family = families_.GetOrCreate(definition.name);
  if (!known) {
    family.kind = definition.kind;
    family.help = std::string(definition.help);
    std::replace(family.help.begin(), family.help.end(), '\n', ' ');  // HELP is one line
  } else if (family.kind != definition.kind) {
    return nullptr;
  }
  const bool exists = family.series.Find(definition.function) != nullptr;
  Series& series = family.series.GetOrCreate(definition.function);
  if (!exists && definition.kind == ModuleMetricDefinition::Kind::kHistogram) {
    if (definition.bounds.empty()) {
      series.bounds.assign(std::begin(kDefaultBounds), std::end(kDefaultBounds));
    } else {
      series.bounds.assign(definition.bounds.begin(), definition.bounds.end());
    }
    series.counts = std::make_unique<std::atomic<int64_t>[]>(series.bounds.size() + 1);
  }
  return &series;
}

void ModuleMetrics::Render(PrometheusTextWriter& writer) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, family] : families_.Sorted()) {
    const PromType type = TypeOf(family->kind);
    const std::string metric =
        absl::StrCat("fnhost_module_", name, type == PromType::kCounter ? "_total" : "");
    writer.StartFamily(metric, type,
                       family->help.empty() ? "Defined by the function's module." : family->help);
    for (const auto& [function, series] : family->series.Sorted()) {
      if (type != PromType::kHistogram) {
        writer.Sample(metric, {{"function", function}},
                      series->value_.load(std::memory_order_relaxed));
        continue;
      }
      std::vector<int64_t> counts(series->bounds.size() + 1);
      for (size_t i = 0; i < counts.size(); ++i) {
        counts[i] = series->counts[i].load(std::memory_order_relaxed);
      }
      writer.Histogram(metric, {{"function", function}}, series->bounds, counts,
                       series->sum_.load(std::memory_order_relaxed));
    }
  }
}

}  // namespace fnhost::internal
