#include "src/isolation/worker_protocol.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fnhost/clock.h"
#include "src/common/cpu_relax.h"

namespace fnhost::internal {
namespace {

// Bytes of payload a call-channel read may take along with the header: a small frame then
// costs one system call.
constexpr size_t kReadAhead = 4096 - sizeof(FrameHeader);

absl::Status PeerGone() { return absl::UnavailableError("the peer closed the channel"); }

absl::Status SystemError(const char* what, int error) {
  if (error == EPIPE || error == ECONNRESET) return PeerGone();
  return absl::InternalError(absl::StrCat(what, " failed: ", std::strerror(error)));
}

bool Timed(absl::Time deadline) { return deadline != absl::InfiniteFuture(); }

// Waits until `fd` has one of `events` or `deadline` passes. Sockets stay blocking: without a
// deadline the read or write itself waits, and with one it runs with MSG_DONTWAIT after this.
absl::Status WaitFd(int fd, short events, absl::Time deadline) {
  for (;;) {
    absl::Duration left = deadline - Clock::Real()->Now();
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("timed out");
    timespec timeout = absl::ToTimespec(left);
    pollfd poll_fd{fd, events, 0};
    int ready = ::ppoll(&poll_fd, 1, &timeout, nullptr);
    if (ready > 0) return absl::OkStatus();  // readiness or an error: the next call tells
    if (ready < 0 && errno != EINTR) return SystemError("poll", errno);
  }
}

// Where a frame's passed descriptors go: the first to fds[0], the second to fds[1] (null:
// closed), and any beyond closed.
struct PassedFds {
  int* fds[2] = {nullptr, nullptr};
  int taken = 0;
  void Take(int passed) {
    int* slot = taken < 2 ? fds[taken] : nullptr;
    ++taken;
    if (slot != nullptr) {
      *slot = passed;
    } else {
      ::close(passed);
    }
  }
};

// Receives with recvmsg, taking the descriptors passed along.
ssize_t RecvWithFds(int fd, char* data, size_t size, int flags, PassedFds* passed) {
  iovec iov{data, size};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  ssize_t n = ::recvmsg(fd, &message, flags | MSG_CMSG_CLOEXEC);
  if (n <= 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int one;
      std::memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      passed->Take(one);
    }
  }
  return n;
}

// Reads at least `min` and at most `max` bytes into `data`; `*got` says how many. With
// `passed`, the first read takes the passed descriptors (they come with the first byte of the
// frame that carries them).
absl::Status ReadAtLeast(int fd, char* data, size_t min, size_t max, absl::Time deadline,
                         PassedFds* passed, size_t* got) {
  const int flags = Timed(deadline) ? MSG_DONTWAIT : 0;
  size_t done = 0;
  while (done < min) {
    if (Timed(deadline)) {
      if (absl::Status s = WaitFd(fd, POLLIN, deadline); !s.ok()) return s;
    }
    ssize_t n = passed != nullptr && done == 0 ? RecvWithFds(fd, data, max, flags, passed)
                                               : ::recv(fd, data + done, max - done, flags);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n == 0) {
      return PeerGone();
    } else if (errno != EINTR && errno != EAGAIN) {
      return SystemError("recv", errno);
    }
  }
  *got = done;
  return absl::OkStatus();
}

// Returns once `bell` no longer reads `before`, or at `until`. Polls the shared word with a
// pause between polls and reads the clock now and then. No sched_yield: under EEVDF a yield
// sends the task behind every other runnable one for a whole slice, far longer than a spin.
void AwaitBell(const std::atomic<uint32_t>& bell, uint32_t before, absl::Time until) {
  constexpr int kPollsPerClockRead = 64;
  for (int i = 1; bell.load(std::memory_order_acquire) == before; ++i) {
    CpuRelax();
    if (i % kPollsPerClockRead == 0 && Clock::Real()->Now() >= until) return;
  }
}

// With `wait`: spins until its bell rings or its policy's budget (not past `until`) is spent.
void Spin(const BellWait* wait, absl::Time start, absl::Time until) {
  if (wait == nullptr) return;
  const absl::Duration spin = wait->policy->Next();
  if (spin > absl::ZeroDuration()) AwaitBell(*wait->bell, wait->before, std::min(start + spin, until));
}

absl::Status Receive(int fd, uint32_t max_payload, absl::Time deadline, bool read_ahead,
                     const BellWait* wait, FrameHeader* header, std::string* payload,
                     PassedFds* passed, std::string* ahead) {
  char buffer[sizeof(FrameHeader) + kReadAhead];
  size_t got = 0;
  if (ahead != nullptr && !ahead->empty()) {
    // The start of this frame came with the previous one: no wait for the bell.
    got = std::min(ahead->size(), sizeof(buffer));  // never more: see below
    std::memcpy(buffer, ahead->data(), got);
    ahead->clear();
    wait = nullptr;
  }
  const absl::Time start = wait != nullptr ? Clock::Real()->Now() : absl::InfinitePast();
  Spin(wait, start, deadline);
  // The socket stays the only source of frames and errors: a bell that rang falsely (a module
  // may scribble on it) just ends the spin early.
  if (got < sizeof(FrameHeader)) {
    size_t read = 0;
    absl::Status status =
        ReadAtLeast(fd, buffer + got, sizeof(FrameHeader) - got,
                    (read_ahead ? sizeof(buffer) : sizeof(FrameHeader)) - got, deadline, passed,
                    &read);
    if (!status.ok()) return status;
    got += read;
  }
  if (wait != nullptr) wait->policy->Record(Clock::Real()->Now() - start);
  std::memcpy(header, buffer, sizeof(*header));
  size_t extra = got - sizeof(FrameHeader);
  if (header->magic != kFrameMagic) {
    return absl::DataLossError(absl::StrFormat("bad frame magic 0x%08x", header->magic));
  }
  if (header->size > max_payload) {
    return absl::DataLossError(
        absl::StrCat("frame of ", header->size, " bytes exceeds the limit of ", max_payload));
  }
  if (extra > header->size) {
    if (ahead == nullptr) {
      return absl::DataLossError(
          absl::StrCat(extra - header->size, " stray bytes after a frame"));
    }
    // The start of the next frame: fewer bytes than the buffer holds, so the next read
    // takes them whole.
    ahead->assign(buffer + sizeof(FrameHeader) + header->size, extra - header->size);
    extra = header->size;
  }
  // resize() keeps the capacity, so a reused string does not allocate.
  payload->resize(header->size);
  std::memcpy(payload->data(), buffer + sizeof(FrameHeader), extra);
  if (extra == header->size) return absl::OkStatus();
  const size_t rest = header->size - extra;
  return ReadAtLeast(fd, payload->data() + extra, rest, rest, deadline, nullptr, &got);
}

}  // namespace

namespace {

// Sends `count` pieces as one message, with `pass_fd` and `second_pass_fd` (each when >= 0)
// passed along its first byte.
absl::Status SendPieces(int fd, iovec* iov, size_t count, int pass_fd, int second_pass_fd,
                        absl::Time deadline) {
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))];
  msghdr message{};
  message.msg_iov = iov;
  message.msg_iovlen = count;
  const int pass[2] = {pass_fd, second_pass_fd};
  const size_t passing = pass_fd < 0 ? 0 : second_pass_fd < 0 ? 1 : 2;
  if (passing > 0) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(passing * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(passing * sizeof(int));
    std::memcpy(CMSG_DATA(c), pass, passing * sizeof(int));
  }
  const int send_flags = MSG_NOSIGNAL | (Timed(deadline) ? MSG_DONTWAIT : 0);
  for (;;) {
    ssize_t n = ::sendmsg(fd, &message, send_flags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return SystemError("send", errno);
      if (absl::Status s = WaitFd(fd, POLLOUT, deadline); !s.ok()) return s;
      continue;
    }
    // The descriptors went out with the first byte; a partial send continues without them.
    message.msg_control = nullptr;
    message.msg_controllen = 0;
    size_t sent = static_cast<size_t>(n);
    while (message.msg_iovlen > 0 && sent >= message.msg_iov->iov_len) {
      sent -= message.msg_iov->iov_len;
      ++message.msg_iov;
      --message.msg_iovlen;
    }
    if (message.msg_iovlen == 0) return absl::OkStatus();
    message.msg_iov->iov_base = static_cast<char*>(message.msg_iov->iov_base) + sent;
    message.msg_iov->iov_len -= sent;
  }
}

iovec Piece(std::string_view bytes) { return {const_cast<char*>(bytes.data()), bytes.size()}; }

}  // namespace

absl::Status SendFrame(int fd, FrameType type, int32_t code, uint16_t flags,
                       std::string_view payload, absl::Time deadline, int pass_fd,
                       int second_pass_fd) {
  FrameHeader header{kFrameMagic, type, flags, code, static_cast<uint32_t>(payload.size())};
  iovec iov[2] = {{&header, sizeof(header)}, Piece(payload)};
  return SendPieces(fd, iov, payload.empty() ? 1 : 2, pass_fd, second_pass_fd, deadline);
}

absl::Status SendFrame2(int fd, FrameType type, int32_t code, uint16_t flags,
                        std::string_view first, std::string_view second, absl::Time deadline) {
  FrameHeader header{kFrameMagic, type, flags, code,
                     static_cast<uint32_t>(first.size() + second.size())};
  iovec iov[3] = {{&header, sizeof(header)}, Piece(first), Piece(second)};
  return SendPieces(fd, iov, 3, /*pass_fd=*/-1, /*second_pass_fd=*/-1, deadline);
}

absl::Status RecvFrame(int fd, uint32_t max_payload, absl::Time deadline, FrameHeader* header,
                       std::string* payload, int* received_fd, int* second_received_fd) {
  PassedFds passed{{received_fd, second_received_fd}};
  for (int* slot : passed.fds) {
    if (slot != nullptr) *slot = -1;
  }
  absl::Status status = Receive(fd, max_payload, deadline, /*read_ahead=*/false,
                                /*wait=*/nullptr, header, payload, &passed, /*ahead=*/nullptr);
  for (int* slot : passed.fds) {
    if (!status.ok() && slot != nullptr && *slot >= 0) ::close(std::exchange(*slot, -1));
  }
  return status;
}

absl::Status RecvCallFrame(int fd, uint32_t max_payload, absl::Time deadline, FrameHeader* header,
                           std::string* payload, const BellWait* wait, std::string* ahead) {
  return Receive(fd, max_payload, deadline, /*read_ahead=*/true, wait, header, payload,
                 /*passed=*/nullptr, ahead);
}

absl::Status ReadCallFrameSome(int fd, uint32_t max_payload, FrameProgress* progress,
                               std::string* payload, bool* complete) {
  *complete = false;
  bool drained = false;  // nothing more has arrived for now
  auto read_some = [fd, &drained](char* data, size_t size, size_t* done) -> absl::Status {
    for (;;) {
      const ssize_t n = ::recv(fd, data, size, MSG_DONTWAIT);
      if (n > 0) {
        *done += static_cast<size_t>(n);
        return absl::OkStatus();
      }
      if (n == 0) return PeerGone();
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        drained = true;
        return absl::OkStatus();
      }
      if (errno != EINTR) return SystemError("recv", errno);
    }
  };
  while (progress->header_bytes < sizeof(FrameHeader)) {
    absl::Status status =
        read_some(reinterpret_cast<char*>(&progress->header) + progress->header_bytes,
                  sizeof(FrameHeader) - progress->header_bytes, &progress->header_bytes);
    if (!status.ok() || drained) return status;
    if (progress->header_bytes < sizeof(FrameHeader)) continue;
    if (progress->header.magic != kFrameMagic) {
      return absl::DataLossError(
          absl::StrFormat("bad frame magic 0x%08x", progress->header.magic));
    }
    if (progress->header.size > max_payload) {
      return absl::DataLossError(absl::StrCat("frame of ", progress->header.size,
                                              " bytes exceeds the limit of ", max_payload));
    }
    payload->resize(progress->header.size);  // keeps the capacity of a reused string
  }
  while (progress->payload_bytes < progress->header.size) {
    absl::Status status = read_some(payload->data() + progress->payload_bytes,
                                    progress->header.size - progress->payload_bytes,
                                    &progress->payload_bytes);
    if (!status.ok() || drained) return status;
  }
  *complete = true;
  return absl::OkStatus();
}

absl::Status AwaitCallFrame(int fd, absl::Time until, const BellWait* wait) {
  Spin(wait, Clock::Real()->Now(), until);
  return WaitFd(fd, POLLIN, until);
}

namespace {

constexpr unsigned kDoorbellSeals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

Doorbell* MapDoorbellFd(int fd) {
  void* page = ::mmap(nullptr, kDoorbellBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  // A fresh memfd reads as zeros, which is what the counters start from.
  return page == MAP_FAILED ? nullptr : static_cast<Doorbell*>(page);
}

}  // namespace

Doorbell* CreateDoorbell(int* fd) {
  *fd = ::memfd_create("fnhost-doorbell", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (*fd < 0) return nullptr;
  Doorbell* bell = nullptr;
  if (::ftruncate(*fd, kDoorbellBytes) == 0 && ::fcntl(*fd, F_ADD_SEALS, kDoorbellSeals) == 0) {
    bell = MapDoorbellFd(*fd);
  }
  if (bell == nullptr) {
    ::close(*fd);
    *fd = -1;
  }
  return bell;
}

absl::StatusOr<Doorbell*> MapPeerDoorbell(int fd) {
  // Sealed against shrinking, so the peer cannot make this process's reads fault (SIGBUS).
  struct stat info;
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (static_cast<unsigned>(seals) & kDoorbellSeals) != kDoorbellSeals ||
      ::fstat(fd, &info) != 0 || info.st_size != static_cast<off_t>(kDoorbellBytes)) {
    return absl::DataLossError("the doorbell is not a sealed memfd of one page");
  }
  Doorbell* bell = MapDoorbellFd(fd);
  if (bell == nullptr) return SystemError("mmap of the doorbell", errno);
  return bell;
}

void UnmapDoorbell(Doorbell* bell) {
  if (bell != nullptr) ::munmap(bell, kDoorbellBytes);
}

}  // namespace fnhost::internal
