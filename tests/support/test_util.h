// Helpers shared by the tests: module paths and scratch directories.

#ifndef FNHOST_TESTS_SUPPORT_TEST_UTIL_H_
#define FNHOST_TESTS_SUPPORT_TEST_UTIL_H_

#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace fnhost::testing {

// Path of a module built from tests/modules/<name>.cc.
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

}  // namespace fnhost::testing

#endif  // FNHOST_TESTS_SUPPORT_TEST_UTIL_H_
