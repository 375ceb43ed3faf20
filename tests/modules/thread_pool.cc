// A module whose state keeps a pool of threads running, as a module on OpenMP, BLAS or a gRPC
// client does: the threads start in the init (and in a restore) and stay until the state is
// destroyed. For the tests of threaded modules in process isolation.
//
// Init config: a decimal entry count N (empty: 1000), then optionally a space and the path of a
// file to which each run of the init appends a line, so that a test can count the inits across
// processes. The state is a table of N uint64 values,
// table[i] = i * i, and a pool of 2 threads. With snapshot support (thread_pool.so) the table is
// the snapshot's section "table" and a restored state reads it in place; built with
// FNHOST_THREAD_POOL_NO_SNAPSHOT (thread_pool_no_snapshot.so) the module has no snapshots.
// Built with FNHOST_THREAD_POOL_AT_LOAD (thread_pool_at_load.so) it also starts a thread as
// soon as it is loaded (a static constructor, as some libraries have), which sleeps until the
// process ends: no point of a process that loaded it is single-threaded.
// Requests:
//   "sum A B"   the sum of table[A..B), which the pool's threads compute, half each
//   "origin"    "init" or "restore", then " after_restore=<count>"
//   "crash"     dies of a real SIGSEGV
//   "spin"      never returns
// anything else is echoed back. Errors: a bad init config or range gives INVALID_ARGUMENT.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <functional>
#include <mutex>
#include <numeric>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "fnhost/module.h"

namespace {

using fnhost::sdk::Status;

// Runs tasks on its threads, which wait for work from construction to destruction.
class Pool {
 public:
  explicit Pool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_.notify_all();
    for (std::thread& thread : threads_) thread.join();
  }
  int size() const { return static_cast<int>(threads_.size()); }

  // Runs task(i) for each i in [0, n) on the pool, and waits for all of them.
  void RunAll(int n, const std::function<void(int)>& task) {
    std::mutex done_mu;
    std::condition_variable done;
    int left = n;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int i = 0; i < n; ++i) {
        queue_.push_back([&, i] {
          task(i);
          std::lock_guard<std::mutex> done_lock(done_mu);
          if (--left == 0) done.notify_one();
        });
      }
    }
    work_.notify_all();
    std::unique_lock<std::mutex> lock(done_mu);
    done.wait(lock, [&] { return left == 0; });
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;
        task = std::move(queue_.back());
        queue_.pop_back();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable work_;
  std::vector<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::vector<std::thread> threads_;
};

#ifdef FNHOST_THREAD_POOL_AT_LOAD
struct StartsAThread {
  StartsAThread() {
    std::thread([] {
      for (;;) ::pause();
    }).detach();
  }
} starts_a_thread;
#endif

bool ParseCount(std::string_view text, size_t* value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return error == std::errc() && end == text.data() + text.size();
}

class State {
 public:
  explicit State(const char* origin) : origin_(origin), pool_(2) {}

  static Status Create(const fnhost::sdk::InitContext& context, std::unique_ptr<State>* state) {
    std::string_view config = context.init_config();
    const size_t space = config.find(' ');
    size_t entries = 1000;
    if (!config.empty() && !ParseCount(config.substr(0, space), &entries)) {
      return fnhost::sdk::InvalidArgumentError("thread_pool: init config must be an entry count");
    }
    if (space != std::string_view::npos) {
      std::ofstream(std::string(config.substr(space + 1)), std::ios::app) << "init\n";
    }
    auto fresh = std::make_unique<State>("init");
    fresh->owned_.resize(entries);
    // The pool fills the table, as a library's parallel init would.
    fresh->pool_.RunAll(2, [&](int half) {
      for (size_t i = half; i < entries; i += 2) fresh->owned_[i] = uint64_t{i} * i;
    });
    fresh->table_ = fresh->owned_;
    *state = std::move(fresh);
    return Status::Ok();
  }

#ifndef FNHOST_THREAD_POOL_NO_SNAPSHOT
  static Status Restore(const fnhost::sdk::InitContext&, const fnhost::sdk::SnapshotReader& reader,
                        std::unique_ptr<State>* state) {
    fnhost::sdk::Section section;
    if (Status status = reader.FindSection("table", &section); !status.ok()) return status;
    auto restored = std::make_unique<State>("restore");
    restored->table_ = {section.as<uint64_t>(), section.size / sizeof(uint64_t)};
    *state = std::move(restored);
    return Status::Ok();
  }

  Status Snapshot(fnhost::sdk::SnapshotWriter& writer) const {
    return writer.WriteSection("table", table_.data(), table_.size_bytes());
  }
#endif

  Status AfterRestore(const fnhost::sdk::InitContext&) {
    ++after_restore_;
    return Status::Ok();
  }

  // The sum of table[from, to), half on each pool thread.
  uint64_t Sum(size_t from, size_t to) const {
    uint64_t halves[2] = {0, 0};
    pool_.RunAll(2, [&](int half) {
      for (size_t i = from + half; i < to; i += 2) halves[half] += table_[i];
    });
    return halves[0] + halves[1];
  }

  size_t size() const { return table_.size(); }
  std::string Origin() const {
    return std::string(origin_) + " after_restore=" + std::to_string(after_restore_);
  }

 private:
  const char* origin_;
  int after_restore_ = 0;
  std::vector<uint64_t> owned_;       // the table of a state built by Create
  std::span<const uint64_t> table_;  // owned_, or the restored section
  mutable Pool pool_;  // thread-safe
};

class Instance {
 public:
  explicit Instance(const State& state) : state_(state) {}

  Status Invoke(std::string_view request, fnhost::sdk::Response& response) {
    if (request == "crash") {
      // Sanitizer runtimes turn SIGSEGV into a report and exit(1); the test wants the signal.
      ::signal(SIGSEGV, SIG_DFL);
      void* page = ::mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      *static_cast<volatile char*>(page) = 1;
    }
    if (request == "spin") {
      for (volatile bool forever = true; forever;) {
      }
    }
    if (request == "origin") {
      response.Write(state_.Origin());
      return Status::Ok();
    }
    if (request.substr(0, 4) == "sum ") {
      std::string_view range = request.substr(4);
      size_t space = range.find(' ');
      size_t from = 0, to = 0;
      if (space == std::string_view::npos || !ParseCount(range.substr(0, space), &from) ||
          !ParseCount(range.substr(space + 1), &to) || from > to || to > state_.size()) {
        return fnhost::sdk::InvalidArgumentError("thread_pool: bad range in '" +
                                                 std::string(request) + "'");
      }
      response.Write(std::to_string(state_.Sum(from, to)));
      return Status::Ok();
    }
    response.Write(request);
    return Status::Ok();
  }

 private:
  const State& state_;
};

}  // namespace

FNHOST_MODULE(State, Instance, "thread_pool", "1.0.0")
