#include "src/runtime/builtin_metrics.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "fnhost/builtin_services.h"
#include "src/common/strings.h"

namespace fnhost::internal {
namespace {

std::string_view View(fnhost_module_bytes bytes) {
  return bytes.size == 0 ? std::string_view() : std::string_view(bytes.data, bytes.size);
}

FunctionMetrics* Table(void* data) { return static_cast<FunctionMetrics*>(data); }

constexpr fnhost_host_metrics_v1 kMetricsTable = {
    .define =
        [](void* data, uint32_t kind, fnhost_module_bytes name, fnhost_module_bytes help,
           const double* bounds, size_t bounds_count, uint32_t* id) {
          return Table(data)->Define(kind, View(name), View(help),
                                     std::span<const double>(bounds, bounds_count), id);
        },
    .add = [](void* data, uint32_t id, int64_t delta) { return Table(data)->Add(id, delta); },
    .set = [](void* data, uint32_t id, int64_t value) { return Table(data)->Set(id, value); },
    .record = [](void* data, uint32_t id, double value) { return Table(data)->Record(id, value); },
};

// The metric that takes the bumps when there is no sink.
class Dropped final : public ModuleMetric {
  void Add(int64_t) override {}
  void Set(int64_t) override {}
  void Record(double) override {}
};

bool IsMetricName(std::string_view name) {
  if (name.empty() || name.size() > 100 || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

bool AreBounds(std::span<const double> bounds) {
  if (bounds.size() > 64) return false;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) return false;
  }
  return true;
}

// Reads little-endian fixed-width values off the front of `bytes`.
template <typename T>
bool Take(std::string_view& bytes, T* value) {
  if (bytes.size() < sizeof(T)) return false;
  std::memcpy(value, bytes.data(), sizeof(T));
  bytes.remove_prefix(sizeof(T));
  return true;
}

absl::Status StatusFor(int32_t code, std::string_view what) {
  if (code == FNHOST_STATUS_OK) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(code), absl::StrCat("metrics: ", AsAbsl(what)));
}

}  // namespace

int32_t FunctionMetrics::Define(uint32_t kind, std::string_view name, std::string_view help,
                                std::span<const double> bounds, uint32_t* id) {
  if (kind > FNHOST_METRIC_HISTOGRAM || !IsMetricName(name) || !AreBounds(bounds)) {
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
  std::lock_guard<std::mutex> lock(define_mu_);
  const uint32_t count = count_.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < count; ++i) {
    if (names_[i] != name) continue;
    if (entries_[i].kind != kind) return FNHOST_STATUS_ALREADY_EXISTS;
    *id = i + 1;
    return FNHOST_STATUS_OK;
  }
  if (count == kMaxMetrics) return FNHOST_STATUS_RESOURCE_EXHAUSTED;
  ModuleMetric* metric = nullptr;
  if (sink_ == nullptr) {
    static Dropped dropped;
    metric = &dropped;
  } else {
    metric = sink_->DefineModuleMetric(ModuleMetricDefinition{
        .function = function_,
        .name = name,
        .help = help,
        .kind = static_cast<ModuleMetricDefinition::Kind>(kind),
        .bounds = bounds,
    });
    if (metric == nullptr) return FNHOST_STATUS_ALREADY_EXISTS;
  }
  names_[count] = std::string(name);
  entries_[count] = Entry{kind, metric};
  count_.store(count + 1, std::memory_order_release);
  *id = count + 1;
  return FNHOST_STATUS_OK;
}

int32_t FunctionMetrics::Lookup(uint32_t id, uint32_t kind, const Entry** entry) const {
  if (id == 0 || id > count_.load(std::memory_order_acquire)) return FNHOST_STATUS_NOT_FOUND;
  *entry = &entries_[id - 1];
  return (*entry)->kind == kind ? FNHOST_STATUS_OK : FNHOST_STATUS_INVALID_ARGUMENT;
}

int32_t FunctionMetrics::Add(uint32_t id, int64_t delta) const {
  if (id == 0 || id > count_.load(std::memory_order_acquire)) return FNHOST_STATUS_NOT_FOUND;
  const Entry& entry = entries_[id - 1];
  if (entry.kind == FNHOST_METRIC_HISTOGRAM || (entry.kind == FNHOST_METRIC_COUNTER && delta < 0)) {
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
  entry.metric->Add(delta);
  return FNHOST_STATUS_OK;
}

int32_t FunctionMetrics::Set(uint32_t id, int64_t value) const {
  const Entry* entry = nullptr;
  const int32_t code = Lookup(id, FNHOST_METRIC_GAUGE, &entry);
  if (code == FNHOST_STATUS_OK) entry->metric->Set(value);
  return code;
}

int32_t FunctionMetrics::Record(uint32_t id, double value) const {
  const Entry* entry = nullptr;
  const int32_t code = Lookup(id, FNHOST_METRIC_HISTOGRAM, &entry);
  if (code == FNHOST_STATUS_OK) entry->metric->Record(value);
  return code;
}

absl::Status FunctionMetrics::Call(const ServiceCall& call, std::string* response) {
  std::string_view request = call.request;
  uint32_t id = 0;
  if (call.method == "define") {
    uint32_t kind = 0, bounds_count = 0, name_size = 0;
    std::vector<double> bounds;
    bool ok = Take(request, &kind) && Take(request, &bounds_count) && bounds_count <= 64;
    for (uint32_t i = 0; ok && i < bounds_count; ++i) ok = Take(request, &bounds.emplace_back());
    ok = ok && Take(request, &name_size) && name_size <= request.size();
    if (!ok) return absl::InvalidArgumentError("metrics: define: malformed request");
    const int32_t code = Define(kind, request.substr(0, name_size), request.substr(name_size),
                                bounds, &id);
    if (code == FNHOST_STATUS_OK) response->assign(reinterpret_cast<const char*>(&id), sizeof(id));
    return StatusFor(code, absl::StrCat("define of '", AsAbsl(request.substr(0, name_size)),
                                        "' refused"));
  }
  int64_t integer = 0;
  double real = 0;
  if (call.method == "add" && Take(request, &id) && Take(request, &integer) && request.empty()) {
    return StatusFor(Add(id, integer), "add refused");
  }
  if (call.method == "set" && Take(request, &id) && Take(request, &integer) && request.empty()) {
    return StatusFor(Set(id, integer), "set refused");
  }
  if (call.method == "record" && Take(request, &id) && Take(request, &real) && request.empty()) {
    return StatusFor(Record(id, real), "record refused");
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "metrics: unknown method '", AsAbsl(call.method), "' or malformed request"));
}

std::shared_ptr<const HostService> MetricsService() {
  auto service = std::make_shared<HostService>();
  service->name = FNHOST_METRICS_SERVICE;
  service->version = FNHOST_METRICS_SERVICE_VERSION;
  service->has_typed = true;
  service->has_bytes = true;
  service->bind = [](std::string_view function, MetricsSink* sink) {
    auto table = std::make_shared<FunctionMetrics>(std::string(function), sink);
    return BoundService{
        &kMetricsTable, table.get(),
        [table](const ServiceCall& call, std::string* response) {
          return table->Call(call, response);
        },
        table};
  };
  return service;
}

}  // namespace fnhost::internal
