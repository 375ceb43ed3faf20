// A module built with -fopenmp whose init and calls run `#pragma omp parallel` regions: after
// the init, the OpenMP runtime keeps its pool of threads (two here, whatever the machine) for
// the process's life. For the tests of threaded modules in process isolation.
//
// Init config: a decimal entry count N (empty: 1000); the state is a table of N uint64 values,
// table[i] = i * i, computed in parallel; the snapshot's section "table", read in place after a
// restore. Request "sum A B": the sum of table[A..B), computed by a parallel reduction.
// Errors: a bad init config or range gives INVALID_ARGUMENT.
#include <omp.h>

#include <charconv>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fnhost/module.h"

namespace {

using fnhost::sdk::Status;

constexpr int kThreads = 2;

bool ParseCount(std::string_view text, size_t* value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

class State {
 public:
  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    size_t entries = 1000;
    if (!context.init_config().empty() && !ParseCount(context.init_config(), &entries)) {
      return fnhost::sdk::InvalidArgumentError("openmp: init config must be an entry count");
    }
    auto fresh = std::make_unique<State>();
    fresh->owned_.resize(entries);
    uint64_t* table = fresh->owned_.data();
    const int64_t n = static_cast<int64_t>(entries);
#pragma omp parallel for num_threads(kThreads)
    for (int64_t i = 0; i < n; ++i) table[i] = static_cast<uint64_t>(i) * static_cast<uint64_t>(i);
    fresh->table_ = fresh->owned_;
    *state = std::move(fresh);
    return Status::Ok();
  }

  static Status Restore(const fnhost::sdk::InitContext&, const fnhost::sdk::SnapshotReader& reader,
                        std::unique_ptr<State>* state) {
    fnhost::sdk::Section section;
    if (Status status = reader.FindSection("table", &section); !status.ok()) return status;
    auto restored = std::make_unique<State>();
    restored->table_ = {section.as<uint64_t>(), section.size / sizeof(uint64_t)};
    *state = std::move(restored);
    return Status::Ok();
  }

  Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const {
    return writer.WriteSection("table", table_.data(), table_.size_bytes());
  }

  uint64_t Sum(size_t from, size_t to) const {
    uint64_t sum = 0;
    const uint64_t* table = table_.data();
    const int64_t begin = static_cast<int64_t>(from), end = static_cast<int64_t>(to);
#pragma omp parallel for num_threads(kThreads) reduction(+ : sum)
    for (int64_t i = begin; i < end; ++i) sum += table[i];
    return sum;
  }
  size_t size() const { return table_.size(); }

 private:
  std::vector<uint64_t> owned_;       // the table of a state built by Create
  std::span<const uint64_t> table_;  // owned_, or the restored section
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}

  Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    std::string_view range = request.substr(std::min<size_t>(4, request.size()));
    size_t space = range.find(' ');
    size_t from = 0, to = 0;
    if (request.substr(0, 4) != "sum " || space == std::string_view::npos ||
        !ParseCount(range.substr(0, space), &from) || !ParseCount(range.substr(space + 1), &to) ||
        from > to || to > state_.size()) {
      return fnhost::sdk::InvalidArgumentError("openmp: expected 'sum A B', got '" +
                                               std::string(request) + "'");
    }
    response.Write(std::to_string(state_.Sum(from, to)));
    return Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "openmp", "1.0.0")
