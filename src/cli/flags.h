// A small parser for subcommand arguments of the form `--name=value`, `--name value`,
// `--switch` and positional arguments. Flags use dashes (`--snapshot-dir`), as users type
// them, which Abseil's flags cannot spell. Not thread-safe (used once per process).

#ifndef FNHOST_SRC_CLI_FLAGS_H_
#define FNHOST_SRC_CLI_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnhost::cli {

class Flags {
 public:
  // Parses argv[first..argc). Only flags in `known` are accepted (a name ending in '*' may
  // repeat); `switches` take no value.
  static absl::StatusOr<Flags> Parse(int argc, char** argv, int first,
                                     const std::vector<std::string>& known,
                                     const std::vector<std::string>& switches = {});

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // All values of a repeatable flag, in order.
  std::vector<std::string> GetAll(const std::string& name) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<absl::Duration> GetDuration(const std::string& name,
                                             absl::Duration fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// Whether argv[first..argc) asks for help (--help or -h, before any `--`). Each command checks
// it first and then prints its usage with ShowHelp.
bool HelpRequested(int argc, char** argv, int first);
// Prints `usage` on stdout; returns 0, the command's exit status.
int ShowHelp(const char* usage);

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_FLAGS_H_
