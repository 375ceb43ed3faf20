// Tests of the built-in services' SDK clients (fnhost/sdk/metrics.h, fnhost/sdk/kv.h) through
// the raw C ABI: a fake host offers `metrics` and `kv` in both forms of
// fnhost/builtin_services.h over the same records, and each test runs with the typed forms (as
// in process) and without them (as under process isolation, where the bytes form is used).
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fnhost/builtin_services.h"
#include "gtest/gtest.h"
#include "tests/support/abi_harness.h"

namespace fnhost::testing {
namespace {

// A host's metrics and kv services, in both forms over the same records.
class FakeBuiltins {
 public:
  struct Metric {
    uint32_t kind;
    std::string name;
    std::string help;
    std::vector<double> bounds;
    int64_t value = 0;
    std::vector<double> observations;
  };

  static const fnhost_host_metrics_v1 kMetricsTable;
  static const fnhost_host_kv_v1 kKvTable;

  std::mutex mu;
  std::vector<Metric> metrics;  // id = index + 1
  std::map<std::string, std::string> kv;
  int typed_calls = 0;
  int bytes_calls = 0;

  void Offer(HarnessHost& host, bool grant_metrics = true) {
    host.AddService({.name = FNHOST_METRICS_SERVICE, .granted = grant_metrics,
                     .typed = &kMetricsTable, .typed_data = this,
                     .bytes = [this](std::string_view m, std::string_view r, std::string* out) {
                       return MetricsBytes(m, r, out);
                     }});
    host.AddService({.name = FNHOST_KV_SERVICE, .typed = &kKvTable, .typed_data = this,
                     .bytes = [this](std::string_view m, std::string_view r, std::string* out) {
                       return KvBytes(m, r, out);
                     }});
  }

  Metric* Find(std::string_view name) {
    std::lock_guard<std::mutex> lock(mu);
    for (Metric& metric : metrics) {
      if (metric.name == name) return &metric;
    }
    return nullptr;
  }

 private:
  static FakeBuiltins* Self(void* data) { return static_cast<FakeBuiltins*>(data); }

  int32_t Define(uint32_t kind, std::string_view name, std::string_view help,
                 std::vector<double> bounds, uint32_t* id) {
    for (size_t i = 0; i < metrics.size(); ++i) {
      if (metrics[i].name != name) continue;
      if (metrics[i].kind != kind) return FNHOST_STATUS_ALREADY_EXISTS;
      *id = static_cast<uint32_t>(i + 1);
      return FNHOST_STATUS_OK;
    }
    metrics.push_back({kind, std::string(name), std::string(help), std::move(bounds)});
    *id = static_cast<uint32_t>(metrics.size());
    return FNHOST_STATUS_OK;
  }
  Metric* At(uint32_t id) { return id == 0 || id > metrics.size() ? nullptr : &metrics[id - 1]; }
  int32_t Bump(uint32_t id, uint32_t kind, int64_t delta, bool set) {
    Metric* metric = At(id);
    if (metric == nullptr) return FNHOST_STATUS_NOT_FOUND;
    if (metric->kind != kind && !(kind == FNHOST_METRIC_COUNTER && !set &&
                                  metric->kind == FNHOST_METRIC_GAUGE)) {
      return FNHOST_STATUS_INVALID_ARGUMENT;
    }
    metric->value = set ? delta : metric->value + delta;
    return FNHOST_STATUS_OK;
  }
  int32_t Record(uint32_t id, double value) {
    Metric* metric = At(id);
    if (metric == nullptr) return FNHOST_STATUS_NOT_FOUND;
    if (metric->kind != FNHOST_METRIC_HISTOGRAM) return FNHOST_STATUS_INVALID_ARGUMENT;
    metric->observations.push_back(value);
    return FNHOST_STATUS_OK;
  }

  // Typed form.
  static int32_t TypedDefine(void* data, uint32_t kind, fnhost_module_bytes name,
                             fnhost_module_bytes help, const double* bounds, size_t count,
                             uint32_t* id) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Define(kind, {name.data, name.size}, {help.data, help.size},
                              std::vector<double>(bounds, bounds + count), id);
  }
  static int32_t TypedAdd(void* data, uint32_t id, int64_t delta) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Bump(id, FNHOST_METRIC_COUNTER, delta, false);
  }
  static int32_t TypedSet(void* data, uint32_t id, int64_t value) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Bump(id, FNHOST_METRIC_GAUGE, value, true);
  }
  static int32_t TypedRecord(void* data, uint32_t id, double value) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->Record(id, value);
  }
  static int32_t TypedGet(void* data, fnhost_module_bytes key, char* value, size_t capacity,
                          size_t* size) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    auto it = Self(data)->kv.find(std::string(key.data, key.size));
    if (it == Self(data)->kv.end()) return FNHOST_STATUS_NOT_FOUND;
    *size = it->second.size();
    if (capacity < *size) return FNHOST_STATUS_OUT_OF_RANGE;
    std::memcpy(value, it->second.data(), *size);
    return FNHOST_STATUS_OK;
  }
  static int32_t TypedSetValue(void* data, fnhost_module_bytes key, fnhost_module_bytes value) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    Self(data)->kv[std::string(key.data, key.size)] = std::string(value.data, value.size);
    return FNHOST_STATUS_OK;
  }
  static int32_t TypedErase(void* data, fnhost_module_bytes key) {
    std::lock_guard<std::mutex> lock(Self(data)->mu);
    ++Self(data)->typed_calls;
    return Self(data)->kv.erase(std::string(key.data, key.size)) == 1 ? FNHOST_STATUS_OK
                                                                       : FNHOST_STATUS_NOT_FOUND;
  }

  // Bytes form, decoding builtin_services.h's little-endian messages.
  template <typename T>
  static bool Take(std::string_view& bytes, T* value) {
    if (bytes.size() < sizeof(T)) return false;
    std::memcpy(value, bytes.data(), sizeof(T));
    bytes.remove_prefix(sizeof(T));
    return true;
  }

  int32_t MetricsBytes(std::string_view method, std::string_view request, std::string* out) {
    std::lock_guard<std::mutex> lock(mu);
    ++bytes_calls;
    uint32_t id = 0;
    if (method == "define") {
      uint32_t kind = 0, count = 0, name_size = 0;
      std::vector<double> bounds;
      bool ok = Take(request, &kind) && Take(request, &count);
      for (uint32_t i = 0; ok && i < count; ++i) ok = Take(request, &bounds.emplace_back());
      ok = ok && Take(request, &name_size) && name_size <= request.size();
      if (!ok) {
        *out = "malformed define";
        return FNHOST_STATUS_INVALID_ARGUMENT;
      }
      int32_t code = Define(kind, request.substr(0, name_size), request.substr(name_size),
                            std::move(bounds), &id);
      out->assign(reinterpret_cast<const char*>(&id), sizeof(id));
      return code;
    }
    int64_t integer = 0;
    double real = 0;
    if (method == "record" && Take(request, &id) && Take(request, &real)) return Record(id, real);
    if (method == "add" && Take(request, &id) && Take(request, &integer)) {
      return Bump(id, FNHOST_METRIC_COUNTER, integer, false);
    }
    if (method == "set" && Take(request, &id) && Take(request, &integer)) {
      return Bump(id, FNHOST_METRIC_GAUGE, integer, true);
    }
    *out = "malformed " + std::string(method);
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }

  int32_t KvBytes(std::string_view method, std::string_view request, std::string* out) {
    std::lock_guard<std::mutex> lock(mu);
    ++bytes_calls;
    if (method == "get") {
      auto it = kv.find(std::string(request));
      if (it == kv.end()) {
        *out = "no key '" + std::string(request) + "'";
        return FNHOST_STATUS_NOT_FOUND;
      }
      *out = it->second;
      return FNHOST_STATUS_OK;
    }
    if (method == "erase") {
      return kv.erase(std::string(request)) == 1 ? FNHOST_STATUS_OK : FNHOST_STATUS_NOT_FOUND;
    }
    uint32_t key_size = 0;
    if (method == "set" && Take(request, &key_size) && key_size <= request.size()) {
      kv[std::string(request.substr(0, key_size))] = std::string(request.substr(key_size));
      return FNHOST_STATUS_OK;
    }
    *out = "malformed " + std::string(method);
    return FNHOST_STATUS_INVALID_ARGUMENT;
  }
};

const fnhost_host_metrics_v1 FakeBuiltins::kMetricsTable = {&TypedDefine, &TypedAdd, &TypedSet,
                                                            &TypedRecord};
const fnhost_host_kv_v1 FakeBuiltins::kKvTable = {&TypedGet, &TypedSetValue, &TypedErase};

// Runs with the typed forms (in process) and without them (as under process isolation).
class BuiltinClientsTest : public ::testing::TestWithParam<bool> {
 protected:
  bool typed() const { return GetParam(); }
  void SetUp() override {
    harness_ = OpenTestModule("builtin_probe");
    ASSERT_NE(harness_, nullptr);
    builtins_.Offer(harness_->host());
    harness_->host().set_typed_forms_available(typed());
    ASSERT_NO_FATAL_FAILURE(CreateStateAndInstance(*harness_));
  }
  // Only the form under test was used.
  void ExpectOnlyTheFormUnderTest() {
    std::lock_guard<std::mutex> lock(builtins_.mu);
    EXPECT_GT(typed() ? builtins_.typed_calls : builtins_.bytes_calls, 0);
    EXPECT_EQ(typed() ? builtins_.bytes_calls : builtins_.typed_calls, 0);
  }

  FakeBuiltins builtins_;
  std::unique_ptr<AbiHarness> harness_;
};

TEST_P(BuiltinClientsTest, MetricsAreDefinedAtInitAndBumpedById) {
  EXPECT_EQ(harness_->Invoke("ids").response, "1,2,3");
  ASSERT_TRUE(harness_->Invoke("count 3").ok());
  ASSERT_TRUE(harness_->Invoke("count 4").ok());
  ASSERT_TRUE(harness_->Invoke("depth 9").ok());
  ASSERT_TRUE(harness_->Invoke("depth 5").ok());
  ASSERT_TRUE(harness_->Invoke("size 42").ok());

  FakeBuiltins::Metric* calls = builtins_.Find("calls");
  FakeBuiltins::Metric* depth = builtins_.Find("depth");
  FakeBuiltins::Metric* sizes = builtins_.Find("sizes");
  ASSERT_NE(calls, nullptr);
  ASSERT_NE(depth, nullptr);
  ASSERT_NE(sizes, nullptr);
  EXPECT_EQ(calls->kind, FNHOST_METRIC_COUNTER);
  EXPECT_EQ(calls->help, "Calls counted");
  EXPECT_EQ(calls->value, 7);
  EXPECT_EQ(depth->kind, FNHOST_METRIC_GAUGE);
  EXPECT_EQ(depth->value, 5);
  EXPECT_EQ(sizes->kind, FNHOST_METRIC_HISTOGRAM);
  EXPECT_EQ(sizes->bounds, (std::vector<double>{10, 100}));
  EXPECT_EQ(sizes->observations, std::vector<double>{42});
  ExpectOnlyTheFormUnderTest();
}

TEST_P(BuiltinClientsTest, KvSetGetErase) {
  ASSERT_TRUE(harness_->Invoke("put user:1 ann lee").ok());
  EXPECT_EQ(harness_->Invoke("get user:1").response, "ann lee");
  AbiResult missing = harness_->Invoke("get user:2");
  EXPECT_EQ(missing.code, FNHOST_STATUS_NOT_FOUND);
  ASSERT_TRUE(harness_->Invoke("erase user:1").ok());
  EXPECT_EQ(harness_->Invoke("get user:1").code, FNHOST_STATUS_NOT_FOUND);
  EXPECT_EQ(harness_->Invoke("erase user:1").code, FNHOST_STATUS_NOT_FOUND);
  ExpectOnlyTheFormUnderTest();
}

// A value larger than the module's buffer (typed form: OUT_OF_RANGE, then a second read).
TEST_P(BuiltinClientsTest, KvGetOfALargeValue) {
  const std::string big(5000, 'v');
  {
    std::lock_guard<std::mutex> lock(builtins_.mu);
    builtins_.kv["big"] = big;
  }
  EXPECT_EQ(harness_->Invoke("get big").response, big);
  EXPECT_EQ(harness_->Invoke("get big").response, big) << "the second read reuses the buffer";
}

INSTANTIATE_TEST_SUITE_P(Forms, BuiltinClientsTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Typed" : "Bytes";
                         });

TEST(BuiltinClientsErrorsTest, MetricsNotGrantedFailsTheInitNamingIt) {
  std::unique_ptr<AbiHarness> harness = OpenTestModule("builtin_probe");
  ASSERT_NE(harness, nullptr);
  FakeBuiltins builtins;
  builtins.Offer(harness->host(), /*grant_metrics=*/false);
  AbiResult result = harness->CreateState("");
  EXPECT_EQ(result.code, FNHOST_STATUS_PERMISSION_DENIED);
  EXPECT_EQ(result.message, "service 'metrics' is not granted to function 'harness'");
}

}  // namespace
}  // namespace fnhost::testing
