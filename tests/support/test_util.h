// Helpers shared by the tests: module paths and scratch directories.

#ifndef FNHOST_TESTS_SUPPORT_TEST_UTIL_H_
#define FNHOST_TESTS_SUPPORT_TEST_UTIL_H_

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>

#include "fnhost/host.h"

namespace fnhost::testing {

// Path of a module built from tests/modules/<name>.cc.
// Host options for a test that drives time and maintenance itself: the fake clock, the sink,
// and no maintenance thread (the test calls RunMaintenance when it wants one).
inline HostOptions ManualHostOptions(FakeClock* clock, MetricsSink* sink) {
  HostOptions options;
  options.clock = clock;
  options.metrics_sink = sink;
  options.start_maintenance_thread = false;
  return options;
}

inline std::string TestModule(const std::string& name) {
  return std::string(FNHOST_TEST_MODULE_DIR) + "/" + name + ".so";
}

// Path of an example module built from examples/.
inline std::string ExampleModule(const std::string& name) {
  return std::string(FNHOST_EXAMPLE_MODULE_DIR) + "/" + name + ".so";
}

// Waits, yielding rather than sleeping, until `predicate` holds for function `name`'s status.
template <typename Predicate>
void AwaitStatus(Host& host, const std::string& name, Predicate predicate) {
  for (;;) {
    for (const FunctionStatus& status : host.ListFunctions()) {
      if (status.name == name && predicate(status)) return;
    }
    std::this_thread::yield();
  }
}

// The whole content of `path`; empty if it cannot be read.
inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A fresh directory, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fnhost-test-XXXXXX");
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

  // Writes `contents` to `name` with `mode`; returns the path.
  std::string Write(const std::string& name, const std::string& contents,
                    mode_t mode = 0644) const {
    std::string file = File(name);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << contents;
    ::chmod(file.c_str(), mode);
    return file;
  }

  // Copies `from` to `name` with `mode`; returns the path.
  std::string Copy(const std::string& from, const std::string& name, mode_t mode = 0755) const {
    std::string file = File(name);
    std::filesystem::copy_file(from, file, std::filesystem::copy_options::overwrite_existing);
    ::chmod(file.c_str(), mode);
    return file;
  }

 private:
  std::string path_;
};

// A pipe whose read end the gate module (and canary.so, built from it) blocks on, so that tests
// hold calls busy without sleeping: each Release() lets one call finish.
class Gate {
 public:
  Gate() {
    if (::pipe(fds_) != 0) fds_[0] = fds_[1] = -1;
  }
  ~Gate() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  // The request that blocks until released.
  std::string request() const { return "wait:" + std::to_string(fds_[0]); }
  // Returns false if the pipe could not be written.
  bool Release(int calls = 1) {
    for (int i = 0; i < calls; ++i) {
      if (::write(fds_[1], "x", 1) != 1) return false;
    }
    return true;
  }

 private:
  int fds_[2];
};

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
