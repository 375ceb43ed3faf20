// Helpers shared by the tests: module paths, scratch directories, gates that hold calls, and
// waits with a bound. None hides a failure: each returns an AssertionResult or a value to check,
// or reports through EXPECT (never ASSERT, which would only leave the helper).

#ifndef FNHOST_TESTS_SUPPORT_TEST_UTIL_H_
#define FNHOST_TESTS_SUPPORT_TEST_UTIL_H_

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnhost/host.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnhost::testing {

// Host options for a test that drives time and maintenance itself: the fake clock and the
// sink, for HostForTesting::Create (which starts no maintenance thread: the test calls
// HostForTesting::RunMaintenance when it wants one).
inline HostOptions ManualHostOptions(FakeClock* clock, MetricsSink* sink) {
  HostOptions options;
  options.clock = clock;
  options.metrics_sink = sink;
  return options;
}

// Path of a module built from tests/modules/<name>.cc.
// The instantiations of a test over both isolation modes, named InProcess and Isolated:
//   INSTANTIATE_TEST_SUITE_P(BothModes, T, BothIsolationModes(), IsolationModeName);
inline auto BothIsolationModes() {
  return ::testing::Values(IsolationOptions::Mode::kInProcess, IsolationOptions::Mode::kProcess);
}
inline std::string IsolationModeName(
    const ::testing::TestParamInfo<IsolationOptions::Mode>& info) {
  return info.param == IsolationOptions::Mode::kProcess ? "Isolated" : "InProcess";
}

inline std::string TestModule(const std::string& name) {
  return std::string(FNHOST_TEST_MODULE_DIR) + "/" + name + ".so";
}

// Path of an example module built from examples/.
inline std::string ExampleModule(const std::string& name) {
  return std::string(FNHOST_EXAMPLE_MODULE_DIR) + "/" + name + ".so";
}

// The whole content of `path`; empty if it cannot be read.
inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Writes `contents` to `path` (created or truncated); a failure names the path and the cause.
[[nodiscard]] inline ::testing::AssertionResult WriteFileBytes(const std::string& path,
                                                               std::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) {
    return ::testing::AssertionFailure() << "cannot write " << path << ": " << std::strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

// A fresh directory, removed with everything in it at scope exit. If it cannot be created, the
// test fails at once (a non-fatal failure, so that it can be a member) and path() names a
// directory that does not exist, so that nothing is written anywhere else.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fnhost-test-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << ": " << std::strerror(errno);
      path_ = "/nonexistent/fnhost-test-mkdtemp-failed";
      return;
    }
    path_ = pattern;
    created_ = true;
  }
  ~TempDir() {
    std::error_code ignored;
    if (created_) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

  // Writes `contents` to `name` with `mode`; returns the path. A failure fails the test.
  std::string Write(const std::string& name, const std::string& contents,
                    mode_t mode = 0644) const {
    std::string file = File(name);
    EXPECT_TRUE(WriteFileBytes(file, contents));
    EXPECT_EQ(::chmod(file.c_str(), mode), 0) << "chmod " << file << ": " << std::strerror(errno);
    return file;
  }

  // Copies `from` to `name` with `mode`; returns the path. A failure fails the test.
  std::string Copy(const std::string& from, const std::string& name, mode_t mode = 0755) const {
    std::string file = File(name);
    std::error_code error;
    std::filesystem::copy_file(from, file, std::filesystem::copy_options::overwrite_existing,
                               error);
    EXPECT_FALSE(error) << "copy " << from << " to " << file << ": " << error.message();
    EXPECT_EQ(::chmod(file.c_str(), mode), 0) << "chmod " << file << ": " << std::strerror(errno);
    return file;
  }

 private:
  std::string path_;
  bool created_ = false;
};

// A pipe whose read end the gate module (and canary.so, built from it) blocks on, so that tests
// hold calls busy without sleeping: each Release() lets one call finish, and Open() (or a wait
// below that fails) lets every call through with an error, so that a failing test ends instead
// of hanging in the destructor of a future that waits for a held call.
class Gate {
 public:
  Gate() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) {
      ADD_FAILURE() << "pipe2: " << std::strerror(errno);
      fds_[0] = fds_[1] = -1;
    }
    std::lock_guard<std::mutex> lock(RegistryMutex());
    Registry().insert(this);
  }
  ~Gate() {
    {
      std::lock_guard<std::mutex> lock(RegistryMutex());
      Registry().erase(this);
    }
    Open();
    ::close(fds_[0]);
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  // The request that blocks until released.
  std::string request() const { return "wait:" + std::to_string(fds_[0]); }
  // Returns false if the pipe could not be written.
  [[nodiscard]] bool Release(int calls = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < calls; ++i) {
      if (::write(fds_[1], "x", 1) != 1) return false;
    }
    return true;
  }
  // Closes the write end: every call held, and every later one, reads end-of-file and fails.
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }
  // Opens every gate of the process (after a wait failed).
  static void OpenAll() {
    std::lock_guard<std::mutex> lock(RegistryMutex());
    for (Gate* gate : Registry()) gate->Open();
  }

 private:
  static std::mutex& RegistryMutex() {
    static std::mutex mu;
    return mu;
  }
  static std::set<Gate*>& Registry() {
    static std::set<Gate*> gates;
    return gates;
  }

  std::mutex mu_;  // guards fds_[1]: OpenAll may run on another test thread
  int fds_[2];
};

// How long a test waits for something that should happen within milliseconds: ample under
// sanitizers on a loaded machine. A test that waits this long is broken, and fails instead of
// hanging; nothing asserts on how long a wait took.
inline constexpr std::chrono::seconds kWaitBound(60);

// Waits, yielding rather than sleeping, until `condition()` holds. False once kWaitBound of
// real time has passed without it; the gates are opened then (Gate::OpenAll).
template <typename Condition>
[[nodiscard]] bool WaitUntil(Condition condition) {
  const auto deadline = std::chrono::steady_clock::now() + kWaitBound;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      Gate::OpenAll();
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

// Waits until `predicate` holds for function `name`'s status; use as
// ASSERT_TRUE(AwaitStatus(...)). A failure shows the last status seen.
template <typename Predicate>
[[nodiscard]] ::testing::AssertionResult AwaitStatus(Host& host, const std::string& name,
                                                     Predicate predicate) {
  std::optional<FunctionStatus> last;
  if (WaitUntil([&] {
        for (const FunctionStatus& status : host.ListFunctions()) {
          if (status.name == name) {
            last = status;
            return predicate(status);
          }
        }
        return false;
      })) {
    return ::testing::AssertionSuccess();
  }
  ::testing::AssertionResult failure = ::testing::AssertionFailure();
  failure << "function '" << name << "' did not reach the awaited status within "
          << kWaitBound.count() << " s; last seen: ";
  if (!last.has_value()) return failure << "not registered";
  return failure << "idle " << last->idle_instances << ", busy " << last->busy_instances
                 << ", queued " << last->queued_calls << ", loaded " << last->loaded;
}

// The result of an asynchronous call (std::future or std::shared_future), or DEADLINE_EXCEEDED
// if it has none within kWaitBound; the gates are opened then, so that the call can end and the
// test unwind.
template <typename Future>
auto AwaitResult(Future& future) -> std::decay_t<decltype(future.get())> {
  if (future.wait_for(kWaitBound) != std::future_status::ready) {
    Gate::OpenAll();
    return absl::DeadlineExceededError("the asynchronous call returned nothing within " +
                                       std::to_string(kWaitBound.count()) + " s");
  }
  return future.get();
}

// Matches an absl::StatusOr that is OK and whose value matches `expected` (a value or a
// matcher); otherwise explains with the status. Dereferencing a StatusOr that holds an error is
// undefined behaviour, so tests compare through this rather than with `*result`.
MATCHER_P(IsOkAndHolds, expected, "") {
  if (!arg.ok()) {
    *result_listener << "which is not OK: " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(expected, *arg, result_listener);
}

// Checks an absl::StatusOr<std::unique_ptr<Host>>, such as Host::Create returns, and moves its
// host out; use as ASSERT_TRUE(TakeHost(HostForTesting::Create(options), &host)).
[[nodiscard]] inline ::testing::AssertionResult TakeHost(
    absl::StatusOr<std::unique_ptr<Host>> created, std::unique_ptr<Host>* host) {
  if (!created.ok()) {
    return ::testing::AssertionFailure() << "creating the host: " << created.status();
  }
  *host = *std::move(created);
  return ::testing::AssertionSuccess();
}

// The value of the last sample in Prometheus text `text` whose line starts with `series` (name
// and labels, e.g. `x_total{function="f"}`), or "" if there is none.
inline std::string PrometheusValue(const std::string& text, const std::string& series) {
  const std::string prefix = "\n" + series + " ";
  size_t at = ("\n" + text).rfind(prefix);
  if (at == std::string::npos) return "";
  at += prefix.size() - 1;  // in `text`, which lacks the leading newline
  return text.substr(at, text.find('\n', at) - at);
}

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_TEST_UTIL_H_
