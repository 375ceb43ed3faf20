// A module built on a library that starts its own threads: OpenMP (libgomp keeps a pool of
// worker threads alive after the first parallel region, for the rest of the process). Request
// "<n>" computes the sum of i*i for i in [0, n) in a parallel loop of two threads and replies
// "sum=<sum> threads=<team size> calls=<calls to this copy>". The call count starts from zero
// each time the object is (re)loaded.
#include <omp.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "fnhost/module.h"

namespace {

std::atomic<int> g_calls{0};

using State = fnhost::sdk::NoState;

class Instance {
 public:
  explicit Instance(const State&) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    const int64_t n = std::stoll(std::string(request));
    int64_t sum = 0;
    int team = 0;
#pragma omp parallel for num_threads(2) reduction(+ : sum)
    for (int64_t i = 0; i < n; ++i) {
      if (i == 0) team = omp_get_num_threads();
      sum += i * i;
    }
    response.Write("sum=" + std::to_string(sum) + " threads=" + std::to_string(team) +
                   " calls=" + std::to_string(++g_calls));
    return fnhost::sdk::Status::Ok();
  }
};

}  // namespace

FNHOST_MODULE(State, Instance, "openmp_sum", "1.0.0")
