// The framing spoken on the sockets between the host, a zygote and its workers (all
// AF_UNIX SOCK_STREAM): a 16-byte header (magic, type, flags, status code, payload size) and
// then the payload. A reader never trusts its peer: a bad magic or a frame above the reader's
// size bound is DATA_LOSS, so a worker that scribbles on its channel is caught at once. Header
// and payload leave in one sendmsg (no copy of the payload), and a payload is read straight into
// the caller's string. Also a small field codec for the payloads of control frames.
// Control channel: host <-> zygote; call channel: host <-> one worker.
//
// Thread-safety: the functions keep no state; a socket must not carry two frames in the same
// direction at once.

#ifndef FNHOST_SRC_ISOLATION_WORKER_PROTOCOL_H_
#define FNHOST_SRC_ISOLATION_WORKER_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace fnhost::internal {

// The fd number of its channel in a zygote (control socket) and in a worker (call socket).
inline constexpr int kChildChannelFd = 3;

// Exit status of a worker whose channel failed under it (the module closed or broke it).
inline constexpr int kExitChannelBroken = 121;

// Bound of a kConfig frame (it carries the module's init config).
inline constexpr uint32_t kMaxConfigBytes = 1u << 30;

inline constexpr uint32_t kFrameMagic = 0x57484e46;  // "FNHW" in memory order

enum class FrameType : uint16_t {
  kConfig = 1,   // host -> zygote: what to load (fields: see zygote_main.cc)
  kReady,        // zygote -> host: state built; module name, version, concurrency, timings
  kError,        // zygote or worker -> host: a step failed; code + message
  kSpawn,        // host -> zygote: fork a worker
  kSpawned,      // zygote -> host: worker pid; the host's end of its socket rides along
  kKill,         // host -> zygote: SIGKILL worker pid and its process group (no reply)
  kExited,       // zygote -> host: worker pid, wait status, whether killed on request
  kWorkerReady,  // worker -> host: instance created, serving
  kRequest,      // host -> worker: request bytes
  kResponse,     // worker -> host: status code; response bytes, or the error message
};

// kResponse flag: the worker exits right after this frame (it reached its memory limit).
inline constexpr uint16_t kFlagWorkerExits = 1;

struct FrameHeader {
  uint32_t magic;
  FrameType type;
  uint16_t flags;
  int32_t code;
  uint32_t size;  // payload bytes that follow
};
static_assert(sizeof(FrameHeader) == 16);

// Sends one frame with sendmsg(MSG_NOSIGNAL), attaching `pass_fd` (SCM_RIGHTS) when >= 0.
// Sockets are blocking; with a finite `deadline` (on Clock::Real()) the waits are bounded by
// poll instead. Errors: UNAVAILABLE when the peer is gone, DEADLINE_EXCEEDED, INTERNAL.
absl::Status SendFrame(int fd, FrameType type, int32_t code, uint16_t flags,
                       std::string_view payload, absl::Time deadline, int pass_fd = -1);

// Receives one frame into `header` and `payload` (resized to the payload). With `received_fd`,
// also takes a descriptor passed along (close-on-exec), else -1; without it passed
// descriptors are dropped. Errors: UNAVAILABLE when the peer closed the channel,
// DEADLINE_EXCEEDED, DATA_LOSS for a bad magic or a payload above `max_payload`, INTERNAL.
absl::Status RecvFrame(int fd, uint32_t max_payload, absl::Time deadline, FrameHeader* header,
                       std::string* payload, int* received_fd = nullptr);

// RecvFrame for a worker's call channel, where each side sends one frame and waits for the
// answer: the header read also takes the start of the payload, so a small frame costs one
// system call. Bytes beyond the frame can only come from a misbehaving peer: DATA_LOSS.
absl::Status RecvCallFrame(int fd, uint32_t max_payload, absl::Time deadline, FrameHeader* header,
                           std::string* payload);

// Field codec for control payloads: fixed 8-byte integers and length-prefixed strings.
void PutU64(std::string* out, uint64_t value);
void PutString(std::string* out, std::string_view value);

class FieldReader {
 public:
  explicit FieldReader(std::string_view data) : data_(data) {}
  // Each returns false (and leaves the output alone) when the data ends too early.
  bool U64(uint64_t* value);
  bool String(std::string_view* value);

 private:
  std::string_view data_;
};

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_WORKER_PROTOCOL_H_
