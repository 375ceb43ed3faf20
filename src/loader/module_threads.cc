#include "src/loader/module_threads.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/common/file_system.h"

namespace fnhost {
namespace {

// Read with pread at every load: opened once, on first use, and when the program starts, so
// that the descriptor is there before any test counts its open descriptors.
int LastPidFd() {
  static const int fd = ::open("/proc/sys/kernel/ns_last_pid", O_RDONLY | O_CLOEXEC);
  return fd;
}
const int opened_at_start = LastPidFd();

// More stack than any thread uses; the rest of a huge mapping is not read.
constexpr uint64_t kMaxStackBytes = uint64_t{16} << 20;
// How long a running thread newer than the module is watched before it counts as inside: longer
// than a thread pool spins before it sleeps (libgomp spins for up to about 10 ms).
constexpr int kRunningRounds = 1000;
constexpr auto kRunningPause = std::chrono::microseconds(200);

// The whole of a small /proc file; nullopt if it cannot be read (the thread is gone).
std::optional<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  absl::Cleanup closer = [fd] { ::close(fd); };
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::vector<pid_t>> ListThreads() {
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return ErrnoError(errno, "list threads in", "/proc/self/task");
  absl::Cleanup closer = [dir] { ::closedir(dir); };
  std::vector<pid_t> threads;
  while (const dirent* entry = ::readdir(dir)) {
    int tid = 0;
    if (absl::SimpleAtoi(entry->d_name, &tid)) threads.push_back(tid);
  }
  return threads;
}

// The writable mappings of the process, sorted, to find where a stack pointer's stack ends.
std::vector<CodeRange> WritableMappings() {
  std::vector<CodeRange> mappings;
  const std::optional<std::string> maps = ReadSmallFile("/proc/self/maps");
  if (!maps.has_value()) return mappings;
  for (absl::string_view line : absl::StrSplit(*maps, '\n')) {
    // "begin-end perms offset dev inode path"
    const size_t dash = line.find('-');
    const size_t space = line.find(' ');
    if (dash == absl::string_view::npos || space == absl::string_view::npos || space < dash ||
        line.size() < space + 3 || line[space + 2] != 'w') {
      continue;
    }
    CodeRange range;
    if (absl::SimpleHexAtoi(line.substr(0, dash), &range.begin) &&
        absl::SimpleHexAtoi(line.substr(dash + 1, space - dash - 1), &range.end)) {
      mappings.push_back(range);
    }
  }
  return mappings;
}

class StackScanner {
 public:
  explicit StackScanner(const std::vector<CodeRange>& code) : code_(code), words_(8192) {
    for (const CodeRange& range : code_) {
      lowest_ = std::min(lowest_, range.begin);
      highest_ = std::max(highest_, range.end);
    }
  }

  enum class Seen { kGone, kRunning, kClear, kInside };
  Seen Inspect(pid_t tid, std::string* why);

 private:
  const CodeRange* RangeOf(uint64_t address) const {
    if (address < lowest_ || address >= highest_) return nullptr;
    for (const CodeRange& range : code_) {
      if (address >= range.begin && address < range.end) return &range;
    }
    return nullptr;
  }
  bool InCode(uint64_t address) const { return RangeOf(address) != nullptr; }
  // Whether `address` in the code follows a call instruction: a return address, which the
  // thread will come back to, rather than stale data or a function pointer left in a slot of
  // its stack (glibc hands a joined thread's stack to the next thread it starts).
  bool IsReturnAddress(uint64_t address) const;
  // Whether any word in [from, to) points into the code; nullopt if the memory cannot be read.
  std::optional<bool> ScanStack(uintptr_t from, uintptr_t to) const;

  const std::vector<CodeRange>& code_;
  uintptr_t lowest_ = UINTPTR_MAX;
  uintptr_t highest_ = 0;
  std::optional<std::vector<CodeRange>> mappings_;  // read once, when a stack is first scanned
  mutable std::vector<uint64_t> words_;              // a window of the stack being scanned
};

#if defined(__x86_64__)
// The forms of CALL: E8 rel32, and FF /2 with any addressing mode (an optional REX prefix
// comes before and does not change where the instruction ends).
bool EndsWithCall(const uint8_t* end, size_t available) {
  if (available >= 5 && end[-5] == 0xE8) return true;
  for (size_t length : {2, 3, 4, 6, 7}) {
    if (available < length || end[-length] != 0xFF) continue;
    const uint8_t modrm = end[-length + 1];
    if (((modrm >> 3) & 7) != 2) continue;
    const int mod = modrm >> 6;
    const int rm = modrm & 7;
    size_t expected = 2;
    if (mod != 3 && rm == 4) {
      ++expected;  // SIB byte
      if (mod == 0 && (end[-length + 2] & 7) == 5) expected += 4;
    }
    if (mod == 1) expected += 1;
    if (mod == 2 || (mod == 0 && rm == 5)) expected += 4;
    if (expected == length) return true;
  }
  return false;
}
#elif defined(__aarch64__)
// BL imm26 and BLR Xn.
bool EndsWithCall(const uint8_t* end, size_t available) {
  if (available < 4) return false;
  uint32_t instruction;
  std::memcpy(&instruction, end - 4, 4);
  return (instruction & 0xFC000000u) == 0x94000000u || (instruction & 0xFFFFFC1Fu) == 0xD63F0000u;
}
#endif

bool StackScanner::IsReturnAddress(uint64_t address) const {
  const CodeRange* range = RangeOf(address);
  // The module is still mapped, and its code readable.
  return range != nullptr && EndsWithCall(reinterpret_cast<const uint8_t*>(address),
                                          static_cast<size_t>(address - range->begin));
}

// process_vm_readv reads another thread's stack without racing its writes in a way the
// sanitizers would see, and fails (EFAULT) rather than faults if the stack goes away.
std::optional<bool> StackScanner::ScanStack(uintptr_t from, uintptr_t to) const {
  uint64_t* words = words_.data();
  for (uintptr_t at = from; at < to;) {
    const size_t length = std::min<uintptr_t>(words_.size() * sizeof(uint64_t), to - at);
    iovec local{words, length};
    iovec remote{reinterpret_cast<void*>(at), length};
    const ssize_t n = ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0);
    if (n <= 0) return std::nullopt;
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(uint64_t); ++i) {
      if (IsReturnAddress(words[i])) return true;
    }
    at += static_cast<uintptr_t>(n);
  }
  return false;
}

StackScanner::Seen StackScanner::Inspect(pid_t tid, std::string* why) {
  const std::optional<std::string> text =
      ReadSmallFile(absl::StrCat("/proc/self/task/", tid, "/syscall"));
  if (!text.has_value()) return Seen::kGone;
  if (text->rfind("running", 0) == 0) return Seen::kRunning;
  // "NR ARG1 ... ARG6 SP PC", or "-1 SP PC" when blocked outside a system call.
  std::vector<absl::string_view> fields =
      absl::StrSplit(*text, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  uintptr_t sp = 0;
  uintptr_t pc = 0;
  if (fields.size() < 3 || !absl::SimpleHexAtoi(fields[fields.size() - 2], &sp) ||
      !absl::SimpleHexAtoi(fields.back(), &pc)) {
    *why = "could not be inspected";
    return Seen::kInside;
  }
  if (InCode(pc)) {
    *why = "is stopped in the module's code";
    return Seen::kInside;
  }
  if (!mappings_.has_value()) mappings_ = WritableMappings();
  auto stack = std::find_if(mappings_->begin(), mappings_->end(), [sp](const CodeRange& m) {
    return sp >= m.begin && sp < m.end;
  });
  if (stack == mappings_->end()) {
    *why = "has its stack outside any mapping";
    return Seen::kInside;
  }
  const std::optional<bool> inside =
      ScanStack(sp & ~uintptr_t{7}, std::min<uintptr_t>(stack->end, sp + kMaxStackBytes));
  if (!inside.has_value()) {
    // Gone in the meantime, or the kernel forbids reading it: look again, as if running.
    return Seen::kRunning;
  }
  if (*inside) *why = "has the module's code on its stack";
  return *inside ? Seen::kInside : Seen::kClear;
}

}  // namespace

pid_t LastThreadId() {
  const int fd = LastPidFd();
  char buffer[32];
  const ssize_t n = fd < 0 ? -1 : ::pread(fd, buffer, sizeof(buffer), 0);
  int last = 0;
  if (n <= 0 || !absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(
                                      absl::string_view(buffer, static_cast<size_t>(n))),
                                  &last)) {
    return 0;
  }
  return last;
}

absl::StatusOr<std::vector<ThreadInModule>> ThreadsInModule(const std::vector<CodeRange>& code,
                                                            pid_t newer_than) {
  absl::StatusOr<std::vector<pid_t>> threads = ListThreads();
  if (!threads.ok()) return threads.status();
  const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
  // Ids wrapped around since the load: any thread may be newer.
  if (newer_than != 0 && LastThreadId() < newer_than) newer_than = 0;

  StackScanner scanner(code);
  std::vector<ThreadInModule> inside;
  // Records a thread seen inside; true if it is running (and could not be seen at all).
  auto running_now = [&](pid_t tid) {
    std::string why;
    const StackScanner::Seen seen = scanner.Inspect(tid, &why);
    if (seen == StackScanner::Seen::kInside) inside.push_back({tid, std::move(why)});
    return seen == StackScanner::Seen::kRunning;
  };
  std::vector<pid_t> running;
  for (pid_t tid : *threads) {
    if (tid != self && running_now(tid) && tid > newer_than) running.push_back(tid);
  }
  for (int round = 0; round < kRunningRounds && !running.empty(); ++round) {
    std::this_thread::sleep_for(kRunningPause);
    std::erase_if(running, [&](pid_t tid) { return !running_now(tid); });
  }
  for (pid_t tid : running) {
    inside.push_back({tid, "started after the module and kept running, so it could not be "
                           "inspected"});
  }
  return inside;
}

}  // namespace fnhost
