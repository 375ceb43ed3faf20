// The framing spoken on the sockets between the host, a zygote and its workers (all
// AF_UNIX SOCK_STREAM): a 16-byte header (magic, type, flags, status code, payload size) and
// then the payload. A reader never trusts its peer: a bad magic or a frame above the reader's
// size bound is DATA_LOSS, so a worker that scribbles on its channel is caught at once.
// Control channel: host <-> zygote; call channel: host <-> one worker. A call channel may have
// a Doorbell, a shared page on which a reader spins briefly (SpinPolicy) before it blocks.
//
// Control frames (config, reports, spawn, kill, exit reports, errors) carry protobuf messages
// (proto/fnhost/zygote.proto; control_frames.h). The call frames, kRequest and kResponse, stay
// raw: the request or response bytes are the payload, the status code rides in the header.
// That is what keeps a small call at one sendmsg and one recv each way: header and payload
// leave in one sendmsg straight from the caller's buffer (no copy, no encoding), and the
// reader takes the header and a small payload in one recv, into the caller's reused string
// (no allocation). A message around the bytes would add a copy and an encoding pass on both
// sides of every call, for nothing a 16-byte header does not already say.
//
// Thread-safety: the functions keep no state; a socket must not carry two frames in the same
// direction at once. SpinPolicy and BellWait belong to one reader.

#ifndef FNHOST_SRC_ISOLATION_WORKER_PROTOCOL_H_
#define FNHOST_SRC_ISOLATION_WORKER_PROTOCOL_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnhost::internal {

// The fd number of its channel in a zygote (control socket) and in a worker (call socket).
inline constexpr int kChildChannelFd = 3;

// Exit status of a worker whose channel failed under it (the module closed or broke it).
inline constexpr int kExitChannelBroken = 121;

// Bound of a kConfig frame (it carries the module's init config).
inline constexpr uint32_t kMaxConfigBytes = 1u << 30;
// Bound of every other control frame, on every channel: reports (with their snapshot events'
// messages), errors, spawns, kills, exit reports.
inline constexpr uint32_t kMaxControlBytes = 1u << 20;

inline constexpr uint32_t kFrameMagic = 0x57484e46;  // "FNHW" in memory order

// What a frame holds; a control frame's payload is the zygote.proto message named.
enum class FrameType : uint16_t {
  kConfig = 1,    // host -> zygote: ZygoteConfig; a snapshot memfd may ride along, for a
                  // zygote that forks before the init
  kReady,         // zygote -> host: StartReport; the snapshot memfd that workers restore from
                  // may ride along
  kError,         // zygote or worker -> host, builder -> zygote: Error, a step failed
  kSpawn,         // host -> zygote: fork a worker (no payload)
  kSpawned,       // zygote -> host: Spawned; the host's end of the worker's socket rides along
  kKill,          // host -> zygote: Kill (no reply)
  kExited,        // zygote -> host: Exited
  kWorkerReady,   // worker -> host: instance created, serving (no payload); its Doorbell's
                  // memfd rides along
  kRequest,       // host -> worker: the request bytes (raw)
  kResponse,      // worker -> host: status code in the header; the response bytes, or the
                  // error message (raw)
  kThreadedInit,  // zygote -> host: StartReport; the module's init left threads, so this
                  // zygote cannot fork and exits; the snapshot memfd it wrote may ride along
  kBuilt,         // snapshot builder -> its zygote: StartReport of the init, with the snapshot
                  // memfd if it wrote one
  // Host services and logs (call_frames.h). During a call on a worker's channel; during a
  // zygote's (or its snapshot builder's, forwarded by the zygote) init on the control channel;
  // during a worker's start on its channel.
  kHostCall,       // -> host: a module's call_host: service id, method, request
  kHostCallReply,  // host ->: the service's status code in the header; response or message
  kLog,            // -> host: a line the module logged, its level in the header's code
  // A reload that keeps state (host -> worker, between calls).
  kSnapshotState,  // host -> worker: write your state's sections to a sealed memfd (no payload)
  kStateSnapshot,  // worker -> host: done; the memfd rides along (or kError)
};

// kResponse flag: the worker exits right after this frame (it reached its memory limit).
inline constexpr uint16_t kFlagWorkerExits = 1;
// kRequest flag: the payload starts with the call's context, the header's code bytes of it
// (call_frames.h). kResponse flag: the payload ends with the response metadata (call_frames.h).
inline constexpr uint16_t kFlagContext = 2;

struct FrameHeader {
  uint32_t magic;
  FrameType type;
  uint16_t flags;
  int32_t code;
  uint32_t size;  // payload bytes that follow
};
static_assert(sizeof(FrameHeader) == 16);

// Sends one frame with sendmsg(MSG_NOSIGNAL), attaching `pass_fd` and then `second_pass_fd`
// (SCM_RIGHTS) when >= 0 (kSpawned carries a worker's socket and its sandbox's denial page).
// Sockets are blocking; with a finite `deadline` (on Clock::Real()) the waits are bounded by
// poll instead. Errors: UNAVAILABLE when the peer is gone, DEADLINE_EXCEEDED, INTERNAL.
absl::Status SendFrame(int fd, FrameType type, int32_t code, uint16_t flags,
                       std::string_view payload, absl::Time deadline, int pass_fd = -1,
                       int second_pass_fd = -1);
// The same with a payload in two pieces, sent together without a copy (a request's context,
// then its bytes).
absl::Status SendFrame2(int fd, FrameType type, int32_t code, uint16_t flags,
                        std::string_view first, std::string_view second, absl::Time deadline);

// Receives one frame into `header` and `payload` (resized to the payload). With `received_fd`,
// also takes a descriptor passed along (close-on-exec), else -1, and with `second_received_fd`
// the second one; descriptors nobody asked for are closed. Errors: UNAVAILABLE when the peer
// closed the channel, DEADLINE_EXCEEDED, DATA_LOSS for a bad magic or a payload above
// `max_payload`, INTERNAL.
absl::Status RecvFrame(int fd, uint32_t max_payload, absl::Time deadline, FrameHeader* header,
                       std::string* payload, int* received_fd = nullptr,
                       int* second_received_fd = nullptr);

// Bounded, adaptive busy-polling for the reader of a call channel. A process that sleeps in a
// blocking read pays the machine's sleep and wake-up latency, which dominates a small call's
// round trip on a VM; a reader that watches its Doorbell for a short while catches a prompt
// frame awake, and then reads it from the socket at once. It spins at most `budget` per wait,
// and only while spinning pays off: a wait that took longer than the budget (a slow function,
// an idle peer, or a CPU too busy for the spin to hold it) makes the next 1, 2, 4... up to
// kMaxBackoff waits block at once; a spin that pays off again resets that. So an idle worker or
// a slow function costs one budget of CPU now and then, and a crowded machine, where spinning
// would only add to the queue for the CPU, is left alone.
//
// Thread-safety: none; one per channel end, used by its reader only.
class SpinPolicy {
 public:
  // Spinning on one wait never exceeds this, whatever the configuration says.
  static constexpr absl::Duration kMaxBudget = absl::Milliseconds(1);

  // A zero or negative `budget` turns spinning off.
  explicit SpinPolicy(absl::Duration budget)
      : budget_(std::clamp(budget, absl::ZeroDuration(), kMaxBudget)) {}

  // Most waits that block at once after a spin that did not pay off.
  static constexpr int kMaxBackoff = 64;

  // How long the next wait spins before it blocks.
  absl::Duration Next() const { return skip_ == 0 ? budget_ : absl::ZeroDuration(); }
  // Notes how long the last wait took until its frame began to arrive.
  void Record(absl::Duration waited) {
    if (skip_ > 0) {
      --skip_;
    } else if (waited <= budget_) {
      backoff_ = 0;
    } else {
      backoff_ = std::min(std::max(1, 2 * backoff_), kMaxBackoff);
      skip_ = backoff_;
    }
  }

 private:
  absl::Duration budget_;
  int backoff_ = 0;  // waits skipped after the latest miss; a fresh channel is taken to be busy
  int skip_ = 0;     // waits left that block at once
};

// A page shared by the host and one worker (a sealed memfd the worker creates and passes along
// with kWorkerReady): each side bumps its counter right after it has sent a frame on the call
// socket, so that the other side can spin on memory, with no system call per poll (a system call
// costs microseconds on a VM). Only a hint: frames, errors and EOF still come from the socket,
// so a module that scribbles on the page can at worst end a spin early or make it run out.
// The page also holds the running call's cancelled flag, which the module's call context
// points at: the host writes 0 before each request and 1 when the call is cancelled.
struct Doorbell {
  alignas(64) std::atomic<uint32_t> request;   // bumped by the host after each frame it sends
  alignas(64) std::atomic<uint32_t> response;  // bumped by the worker after each frame it sends
  alignas(64) int32_t cancelled;  // read and written with __atomic builtins, as abi.h says
};
inline constexpr size_t kDoorbellBytes = 4096;
static_assert(sizeof(Doorbell) <= kDoorbellBytes);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// Creates a doorbell page, zeroed and sealed against resizing; `*fd` is its memfd
// (close-on-exec) to pass to the peer. nullptr (and -1) if the system refuses.
Doorbell* CreateDoorbell(int* fd);
// Maps the doorbell a peer passed. DATA_LOSS unless it is a sealed memfd of one page (the peer
// could otherwise shrink it under this process, whose reads would then fault).
absl::StatusOr<Doorbell*> MapPeerDoorbell(int fd);
void UnmapDoorbell(Doorbell* bell);

// What a reader spins on before it blocks: the peer's counter, as read before this side sent the
// frame that the awaited one answers (so that a ring cannot be missed), and its SpinPolicy.
struct BellWait {
  const std::atomic<uint32_t>* bell;
  uint32_t before;
  SpinPolicy* policy;
};

// RecvFrame for a worker's call channel: the header read also takes the start of the payload,
// so a small frame costs one system call. It may take bytes beyond the frame too: with
// `ahead`, where a peer may send several frames in a row (a worker's log lines and host calls
// before its response), they are kept there and the next read starts with them; without, they
// can only come from a misbehaving peer: DATA_LOSS. With `wait`, first spins until the bell
// rings or for wait->policy->Next() (never past `deadline`), then reads as without, and
// records the wait in the policy.
absl::Status RecvCallFrame(int fd, uint32_t max_payload, absl::Time deadline, FrameHeader* header,
                           std::string* payload, const BellWait* wait = nullptr,
                           std::string* ahead = nullptr);

// A call frame read in pieces as its bytes arrive, by a reader that must never block (the
// poller of asynchronous calls).
struct FrameProgress {
  FrameHeader header{};
  size_t header_bytes = 0;
  size_t payload_bytes = 0;
};

// Reads what has arrived of a call frame without blocking: OK with *complete false while more
// is to come, OK with *complete true once `progress->header` and `payload` hold the frame
// (then reset `progress` for the next one). Errors as RecvCallFrame's.
absl::Status ReadCallFrameSome(int fd, uint32_t max_payload, FrameProgress* progress,
                               std::string* payload, bool* complete);

// Waits until a frame (or EOF, or an error) is there to read on `fd` without reading it, so
// that a caller may wake up at `until` (finite) to do something else and wait again: with
// `wait`, first spins as RecvCallFrame does (not past `until`). DEADLINE_EXCEEDED at `until`.
// The caller records the whole wait in wait->policy once the frame is there.
absl::Status AwaitCallFrame(int fd, absl::Time until, const BellWait* wait);

}  // namespace fnhost::internal

#endif  // FNHOST_SRC_ISOLATION_WORKER_PROTOCOL_H_
