// A module whose own code runs a thread pool: State::Create starts two std::threads that wait
// for work; a call hands them "<n>" and replies "sum=<sum of i*i for i in [0, n)> calls=<calls
// to this copy>". With init config "join" the state's destructor stops and joins the pool, as a
// module should. Otherwise the pool outlives the state (it is parked in a global, which only the
// object's destructors at exit free), as a careless module's does, and its threads wait inside
// this module's code after the state is gone. With "spin" a third thread spins in the module's
// code (never blocking) until the pool is destroyed.
#include <condition_variable>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/module.h"

namespace {

class Pool {
 public:
  explicit Pool(bool spinner) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { Work(); });
    if (spinner) {
      threads_.emplace_back([this] {
        while (!spinning_done_.load(std::memory_order_relaxed)) {
        }
      });
    }
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    spinning_done_ = true;
    cv_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }
  void Run(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }

 private:
  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      std::function<void()> job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::atomic<bool> spinning_done_{false};
  std::vector<std::thread> threads_;
};

std::vector<std::unique_ptr<Pool>> g_parked;
std::mutex g_parked_mu;
std::atomic<int> g_calls{0};

class State {
 public:
  static fnhost::sdk::Status Create(const fnhost::sdk::InitContext& context,
                                    std::unique_ptr<State>* state) {
    *state = std::make_unique<State>(context.init_config() == "spin");
    (*state)->join_ = context.init_config() == "join";
    return fnhost::sdk::Status::Ok();
  }
  explicit State(bool spinner) : pool_(std::make_unique<Pool>(spinner)) {}
  ~State() {
    if (join_) return;  // the pool's destructor stops and joins it
    std::lock_guard<std::mutex> lock(g_parked_mu);
    g_parked.push_back(std::move(pool_));
  }
  Pool& pool() const { return *pool_; }

 private:
  bool join_ = false;
  std::unique_ptr<Pool> pool_;
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}
  fnhost::sdk::Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    const int64_t n = std::stoll(std::string(request));
    std::promise<int64_t> result;
    state_.pool().Run([n, &result] {
      int64_t sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += i * i;
      result.set_value(sum);
    });
    response.Write("sum=" + std::to_string(result.get_future().get()) +
                   " calls=" + std::to_string(++g_calls));
    return fnhost::sdk::Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "own_pool", "1.0.0")
