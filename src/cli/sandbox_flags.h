// The sandbox flags that `fnhost run` and `fnhost inspect` share: the level, and what a config
// file's sandbox block holds (config.proto's Sandbox), so that a module can be tried under the
// limits it will be served with.
//
//   --sandbox=off|basic|strict   --on-denial=errno|kill   --allow-network
//   --read-path=DIR...  --write-path=DIR...  --allow-syscall=NAME...
//   --memory-limit=BYTES[KiB|MiB|GiB]  --pids-limit=N  --cpu-time-limit=DURATION (e.g. 200ms)
//
// Relative paths are taken from the current directory. Whether the paths exist and the names
// are system calls is checked when the function registers, as for a config file.
// Thread-safety: stateless.

#ifndef FNHOST_SRC_CLI_SANDBOX_FLAGS_H_
#define FNHOST_SRC_CLI_SANDBOX_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fnhost/sandbox_options.h"
#include "src/cli/flags.h"

namespace fnhost::cli {

// The flag names above, for Flags::Parse: valued ones, and the one switch.
std::vector<std::string> SandboxFlagNames();
std::vector<std::string> SandboxSwitchNames();

// The options the flags give; an error names the flag. `given` is set to the first of the
// flags above that was given ("" for none): each needs --isolation=process.
absl::StatusOr<SandboxOptions> SandboxFromFlags(const Flags& flags, std::string* given);

}  // namespace fnhost::cli

#endif  // FNHOST_SRC_CLI_SANDBOX_FLAGS_H_
