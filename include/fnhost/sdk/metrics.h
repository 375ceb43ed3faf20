// A client of the built-in `metrics` service (fnhost/builtin_services.h): define counters,
// gauges and histograms once at init, bump them by id in every call. They appear among the
// host's metrics with the function as a label.
//
// Part of the module SDK; include it next to fnhost/module.h. It uses the service's typed form
// when the host gives one (in process: one indirect call, no allocation) and its bytes form
// otherwise (under process isolation), so the same module runs in both modes:
//
//   StatusOr<Metrics> metrics = Metrics::Require(context);      // in State::Create
//   StatusOr<Counter> hits = metrics->DefineCounter("cache_hits", "Lookups that hit");
//   ...
//   state.hits.Add(call_context);                                // in Invoke
//
// A Metrics is valid only during the init step it was required in; Counter, Gauge and
// Histogram are values kept in the State, safe to use from any number of calls at once. Bumps
// never fail a call: a bump the host refuses is dropped.

#ifndef FNHOST_SDK_METRICS_H_
#define FNHOST_SDK_METRICS_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "fnhost/builtin_services.h"
#include "fnhost/sdk/call_context.h"
#include "fnhost/sdk/init_context.h"
#include "fnhost/sdk/service.h"
#include "fnhost/sdk/status.h"
#include "fnhost/sdk/wire.h"

namespace fnhost::sdk {

namespace internal {

// A defined metric: its id, and how to reach the service in a call.
class MetricHandle {
 public:
  MetricHandle() = default;
  MetricHandle(uint32_t id, const Service& service)
      : id_(id),
        typed_(service.typed<fnhost_host_metrics_v1>().table()),
        data_(service.typed<fnhost_host_metrics_v1>().data()),
        service_id_(service.id()) {}

  uint32_t id() const { return id_; }

 protected:
  template <typename T>
  using Function = int32_t (*)(void* data, uint32_t id, T value);

  // Through the typed form's `function` when there is one, else the bytes form's `method`.
  template <typename T>
  void Send(CallContext& context, Function<T> fnhost_host_metrics_v1::*function,
            std::string_view method, T value) const {
    if (typed_ != nullptr) {
      (typed_->*function)(data_, id_, value);
      return;
    }
    const fnhost_host_call_context& raw = context.raw();
    IdAndValue message(id_, value);
    (void)internal::CallHost(raw.call_host, raw.host_data, service_id_, FNHOST_METRICS_SERVICE,
                             method, message.view());
  }

 private:
  uint32_t id_ = 0;
  const fnhost_host_metrics_v1* typed_ = nullptr;
  void* data_ = nullptr;
  uint64_t service_id_ = 0;
};

}  // namespace internal

class Counter : public internal::MetricHandle {
 public:
  using MetricHandle::MetricHandle;
  void Add(CallContext& context, int64_t delta = 1) const {
    Send(context, &fnhost_host_metrics_v1::add, "add", delta);
  }
};

class Gauge : public internal::MetricHandle {
 public:
  using MetricHandle::MetricHandle;
  void Add(CallContext& context, int64_t delta) const {
    Send(context, &fnhost_host_metrics_v1::add, "add", delta);
  }
  void Set(CallContext& context, int64_t value) const {
    Send(context, &fnhost_host_metrics_v1::set, "set", value);
  }
};

class Histogram : public internal::MetricHandle {
 public:
  using MetricHandle::MetricHandle;
  void Record(CallContext& context, double value) const {
    Send(context, &fnhost_host_metrics_v1::record, "record", value);
  }
};

class Metrics {
 public:
  // Requires the `metrics` service (version 1 or later, either form) for this init step.
  static StatusOr<Metrics> Require(const InitContext& context) {
    StatusOr<Service> service =
        context.RequireService(FNHOST_METRICS_SERVICE, FNHOST_METRICS_SERVICE_VERSION,
                               ServiceForms::kAny);
    if (!service.ok()) return service.status();
    if (!service->has_typed() && !service->has_bytes()) {
      return FailedPreconditionError("service 'metrics' came with neither form");
    }
    return Metrics(context, *std::move(service));
  }

  StatusOr<Counter> DefineCounter(std::string_view name, std::string_view help) const {
    StatusOr<uint32_t> id = Define(FNHOST_METRIC_COUNTER, name, help, {});
    if (!id.ok()) return id.status();
    return Counter(*id, service_);
  }
  StatusOr<Gauge> DefineGauge(std::string_view name, std::string_view help) const {
    StatusOr<uint32_t> id = Define(FNHOST_METRIC_GAUGE, name, help, {});
    if (!id.ok()) return id.status();
    return Gauge(*id, service_);
  }
  // `bounds`: the buckets' upper bounds, ascending; empty for the host's defaults.
  StatusOr<Histogram> DefineHistogram(std::string_view name, std::string_view help,
                                      std::span<const double> bounds = {}) const {
    StatusOr<uint32_t> id = Define(FNHOST_METRIC_HISTOGRAM, name, help, bounds);
    if (!id.ok()) return id.status();
    return Histogram(*id, service_);
  }

 private:
  Metrics(const InitContext& context, Service service)
      : context_(&context), service_(std::move(service)) {}

  StatusOr<uint32_t> Define(uint32_t kind, std::string_view name, std::string_view help,
                            std::span<const double> bounds) const {
    const std::string what = "metrics: defining '" + std::string(name) + "'";
    if (auto typed = service_.typed<fnhost_host_metrics_v1>()) {
      uint32_t id = 0;
      int32_t code = typed->define(typed.data(), kind, internal::Lend(name), internal::Lend(help),
                                   bounds.data(), bounds.size(), &id);
      if (code != FNHOST_STATUS_OK) return Status(internal::ToCode(code), what + " failed");
      return id;
    }
    std::string request;
    internal::AppendFixed(request, kind);
    internal::AppendFixed(request, static_cast<uint32_t>(bounds.size()));
    for (double bound : bounds) internal::AppendFixed(request, bound);
    internal::AppendFixed(request, static_cast<uint32_t>(name.size()));
    request.append(name).append(help);
    StatusOr<std::string_view> response = context_->CallHost(service_, "define", request);
    if (!response.ok()) return response.status();
    uint32_t id = 0;
    if (!internal::ReadU32(*response, &id)) return InternalError(what + ": malformed response");
    return id;
  }

  const InitContext* context_;
  Service service_;
};

}  // namespace fnhost::sdk

#endif  // FNHOST_SDK_METRICS_H_
