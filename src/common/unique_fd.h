// UniqueFd: owns one file descriptor and closes it when destroyed or replaced, as
// std::unique_ptr does for memory. Used for the descriptors that travel between the host and
// its zygotes (snapshot memfds) and must be closed on every path.
//
// Thread-safety: none; like any value, one owner at a time.

#ifndef FNHOST_SRC_COMMON_UNIQUE_FD_H_
#define FNHOST_SRC_COMMON_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace fnhost::internal {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_COMMON_UNIQUE_FD_H_
