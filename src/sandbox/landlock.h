// Landlock for a worker: file-system allow-lists, TCP bind and connect denied (ABI >= 4), and
// signals and abstract Unix sockets scoped to the worker (ABI >= 6). Landlock restricts the
// calling process and whatever it starts later, for good, without privileges (it needs
// PR_SET_NO_NEW_PRIVS, which workers have).
//
// Rules name paths that must exist when they are applied; what a rule grants on a directory
// holds for the whole tree beneath it. Access the ruleset does not handle stays allowed: with
// `restrict_reads` false, reads are not restricted.
//
// Thread-safety: LandlockAbi is thread-safe; a LandlockRuleset belongs to one thread.
// RestrictSelf applies to the calling thread and the threads it starts later, so call it while
// the process is single-threaded.

#ifndef FNHOST_SRC_SANDBOX_LANDLOCK_H_
#define FNHOST_SRC_SANDBOX_LANDLOCK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnhost::sandbox {

// The kernel's Landlock ABI version, or 0 with `reason` set.
int LandlockAbi(std::string* reason);

struct LandlockRules {
  bool restrict_reads = false;
  std::vector<std::string> read_paths;   // files or trees: read (and list)
  std::vector<std::string> write_paths;  // trees: read, write, create, remove, rename within
  bool deny_tcp = false;                 // no TCP bind or connect at all
};

// What the kernel took.
struct LandlockResult {
  int abi = 0;
  bool tcp_denied = false;      // ABI >= 4 and deny_tcp
  bool scoped = false;          // ABI >= 6: signals and abstract Unix sockets stay inside
};

// The rules of a ruleset, with every path opened once (O_PATH); each worker then makes its own
// ruleset from the open descriptors and applies it, which costs it a few microseconds per rule
// and no path lookup. Paths under /proc/self name the calling process: they are opened by
// RestrictSelf, in the worker. Workers inherit the descriptors across fork; RestrictSelf closes
// them in the calling process.
class LandlockRuleset {
 public:
  // A path that cannot be opened is an error naming it.
  static absl::StatusOr<LandlockRuleset> Create(const LandlockRules& rules);
  LandlockRuleset(LandlockRuleset&& other) noexcept;
  LandlockRuleset& operator=(LandlockRuleset&& other) noexcept;
  ~LandlockRuleset();

  // Restricts the calling process for good, then closes this process's descriptors (the
  // object is spent here).
  absl::Status RestrictSelf();
  const LandlockResult& result() const { return result_; }

 private:
  struct Rule {
    std::string path;
    uint64_t rights = 0;
    int fd = -1;  // -1: a path of the calling process, opened by RestrictSelf
  };
  LandlockRuleset() = default;
  void CloseDescriptors();

  uint64_t handled_fs_ = 0;
  uint64_t handled_net_ = 0;
  uint64_t scoped_ = 0;
  std::vector<Rule> rules_;
  LandlockResult result_;
};

}  // namespace fnhost::sandbox

#endif  // FNHOST_SRC_SANDBOX_LANDLOCK_H_
