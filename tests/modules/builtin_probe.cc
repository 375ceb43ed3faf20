// A module of the built-in services' SDK clients (fnhost/sdk/metrics.h, fnhost/sdk/kv.h): at
// init it requires `metrics` and `kv` and defines counter "calls", gauge "depth" and histogram
// "sizes" (bounds 10, 100); a failure is the init's status. Requests:
//   "count N"        adds N to "calls";           "depth N"  sets "depth" to N;
//   "size X"         records X in "sizes";        "ids"      the three ids, "a,b,c";
//   "put KEY VALUE"  kv Set;  "get KEY"  kv Get (replies with the value);  "erase KEY".
// kv errors are the call's status.
#include <charconv>
#include <string>

#include "fnhost/module.h"
#include "fnhost/sdk/kv.h"
#include "fnhost/sdk/metrics.h"

namespace {

using fnhost::sdk::Status;
using fnhost::sdk::StatusOr;

int64_t ToInt(std::string_view text) {
  int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    StatusOr<fnhost::sdk::Metrics> metrics = fnhost::sdk::Metrics::Require(context);
    if (!metrics.ok()) return metrics.status();
    StatusOr<fnhost::sdk::Kv> kv = fnhost::sdk::Kv::Require(context);
    if (!kv.ok()) return kv.status();
    StatusOr<fnhost::sdk::Counter> calls = metrics->DefineCounter("calls", "Calls counted");
    if (!calls.ok()) return calls.status();
    StatusOr<fnhost::sdk::Gauge> depth = metrics->DefineGauge("depth", "Last depth");
    if (!depth.ok()) return depth.status();
    constexpr double kBounds[] = {10, 100};
    StatusOr<fnhost::sdk::Histogram> sizes =
        metrics->DefineHistogram("sizes", "Sizes seen", kBounds);
    if (!sizes.ok()) return sizes.status();
    *state = std::unique_ptr<State>(new State{*calls, *depth, *sizes, *kv});
    return Status::Ok();
  }

  fnhost::sdk::Counter calls;
  fnhost::sdk::Gauge depth;
  fnhost::sdk::Histogram sizes;
  fnhost::sdk::Kv kv;
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}

  Status Invoke(std::string_view request, fnhost::sdk::Response& response,
                fnhost::sdk::CallContext& context) {
    size_t space = request.find(' ');
    std::string_view command = request.substr(0, space);
    std::string_view rest = space == std::string_view::npos ? "" : request.substr(space + 1);
    if (command == "count") {
      state_.calls.Add(context, ToInt(rest));
    } else if (command == "depth") {
      state_.depth.Set(context, ToInt(rest));
    } else if (command == "size") {
      state_.sizes.Record(context, static_cast<double>(ToInt(rest)));
    } else if (command == "ids") {
      response.Write(std::to_string(state_.calls.id()) + "," + std::to_string(state_.depth.id()) +
                     "," + std::to_string(state_.sizes.id()));
    } else if (command == "put") {
      size_t split = rest.find(' ');
      return state_.kv.Set(context, rest.substr(0, split),
                           split == std::string_view::npos ? "" : rest.substr(split + 1));
    } else if (command == "get") {
      Status got = state_.kv.Get(context, rest, &value_);
      if (!got.ok()) return got;
      response.Write(value_);
    } else if (command == "erase") {
      return state_.kv.Erase(context, rest);
    } else {
      return fnhost::sdk::InvalidArgumentError("unknown request '" + std::string(request) + "'");
    }
    return Status::Ok();
  }

 private:
  const State& state_;
  std::string value_;  // reused: Get fills it without allocating once it is large enough
};

}  // namespace

FNHOST_MODULE(State, Instance, "builtin_probe", "1.0.0")
