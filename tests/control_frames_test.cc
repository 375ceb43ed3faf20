// The control frames between a host and its zygotes as protobuf messages: what a hostile or
// broken peer may send is refused (DATA_LOSS, or UNKNOWN for a status code out of range), and
// a lost worker's reason reads as the metrics label the README's table names; a frame can carry
// two descriptors.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "fnhost/sandbox_options.h"
#include "fnhost/zygote.pb.h"
#include "gtest/gtest.h"
#include "src/isolation/control_frames.h"
#include "src/isolation/worker_loss.h"
#include "src/isolation/worker_protocol.h"
#include "tests/support/process_util.h"

namespace fnhost::internal {
namespace {

using ::fnhost::testing::CountOpenFds;
using ::testing::HasSubstr;

TEST(ControlFramesTest, AStatusCrossesAsAnErrorAndBack) {
  const absl::Status status = absl::ResourceExhaustedError("function 'f': out of slots");
  EXPECT_EQ(StatusOf(ErrorOf(status)), status);
  EXPECT_EQ(ErrorFrameStatus(ErrorOf(status).SerializeAsString()), status);
}

TEST(ControlFramesTest, AnErrorCodeOutOfRangeReadsAsUnknown) {
  for (int32_t code : {0, -3, 17, 1 << 20}) {
    zygote::Error error;
    error.set_code(code);
    error.set_message("bad");
    const absl::Status status = StatusOf(error);
    EXPECT_TRUE(absl::IsUnknown(status)) << code << ": " << status;
    EXPECT_EQ(status.message(), "bad");
  }
}

TEST(ControlFramesTest, APayloadThatDoesNotParseIsDataLoss) {
  zygote::StartReport report;
  const absl::Status status = ParseControl(std::string("\xff\xff\xff\xff\x0f", 5), &report);
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_TRUE(absl::IsDataLoss(ErrorFrameStatus("\xff\xff\xff")));
}

zygote::StartReport ValidReport() {
  zygote::StartReport report;
  report.set_module_name("m");
  report.set_module_version("1.2");
  report.set_max_concurrency(1);
  report.set_state_init_nanos(1500);
  report.set_fork_point(static_cast<uint32_t>(ForkPoint::kBeforeInit));
  report.set_init_threads(3);
  zygote::SnapshotNote& note = *report.add_snapshot_event();
  note.set_kind(static_cast<uint32_t>(SnapshotEventKind::kWritten));
  note.set_path("(sealed memfd)");
  return report;
}

TEST(ControlFramesTest, AStartReportReadsIntoWhatTheHostKeeps) {
  ZygoteStartReport report;
  ASSERT_TRUE(ReadStartReport(ValidReport(), &report));
  EXPECT_EQ(report.module_version, "1.2");
  EXPECT_EQ(report.state_init, absl::Nanoseconds(1500));
  EXPECT_EQ(report.fork_point, ForkPoint::kBeforeInit);
  EXPECT_EQ(report.init_threads, 3);
  ASSERT_EQ(report.snapshot_events.size(), 1u);
  EXPECT_EQ(report.snapshot_events[0].kind, SnapshotEventKind::kWritten);
  EXPECT_EQ(report.snapshot_events[0].path, "(sealed memfd)");
}

TEST(ControlFramesTest, AStartReportWithAValueOutOfRangeIsRefused) {
  ZygoteStartReport report;
  zygote::StartReport fork_point = ValidReport();
  fork_point.set_fork_point(7);
  EXPECT_FALSE(ReadStartReport(fork_point, &report));
  zygote::StartReport kind = ValidReport();
  kind.mutable_snapshot_event(0)->set_kind(9);
  EXPECT_FALSE(ReadStartReport(kind, &report));
  zygote::StartReport threads = ValidReport();
  threads.set_init_threads(1u << 31);
  EXPECT_FALSE(ReadStartReport(threads, &report));
}

int Signalled(int signal) { return signal & 0x7f; }  // a wait status: killed by `signal`
int Exited(int code) { return (code & 0xff) << 8; }  // a wait status: exited with `code`

TEST(WorkerLossTest, EachWayOfLosingAWorkerHasItsMetricsLabel) {
  const absl::Status broken = absl::UnavailableError("the peer closed the channel");
  EXPECT_EQ(ClassifyLoss(absl::DeadlineExceededError("timed out"), std::nullopt).Label(),
            "timeout");
  EXPECT_EQ(ClassifyLoss(absl::DataLossError("bad frame magic"), std::nullopt).Label(),
            "protocol");
  EXPECT_EQ(ClassifyLoss(broken, std::nullopt).Label(), "zygote");
  EXPECT_EQ(ClassifyLoss(broken, WorkerExit{Signalled(SIGSEGV), false}).Label(), "SIGSEGV");
  EXPECT_EQ(ClassifyLoss(broken, WorkerExit{Signalled(SIGABRT), false}).Label(), "SIGABRT");
  EXPECT_EQ(ClassifyLoss(broken, WorkerExit{Exited(0), false}).Label(), "exit");
  EXPECT_EQ(ClassifyLoss(broken, WorkerExit{Exited(kExitChannelBroken), false}).Label(),
            "channel");
  // Killed on the host's request after its channel failed: the channel, not the signal.
  EXPECT_EQ(ClassifyLoss(broken, WorkerExit{Signalled(SIGKILL), true}).Label(), "channel");
  EXPECT_EQ(ClassifyLoss(broken, WorkerExit{Signalled(SIGKILL), false}).Label(), "SIGKILL");
  EXPECT_EQ(WorkerLossReason{WorkerLoss::kMemoryLimit}.Label(), "memory_limit");
  EXPECT_EQ(WorkerLossReason{}.Label(), "");
  // The sandbox's limits: the host's CPU check, and a memory cgroup's OOM kill (which the host
  // may have asked to SIGKILL too, after the channel closed).
  absl::Status cpu = absl::DeadlineExceededError("call used 201ms of CPU time");
  cpu.SetPayload(kSandboxLimitPayloadUrl, absl::Cord("cpu_time"));
  EXPECT_EQ(ClassifyLoss(cpu, std::nullopt).Label(), "cpu_time");
  EXPECT_EQ(ClassifyLoss(broken, WorkerExit{Signalled(SIGKILL), true, true}).Label(),
            "memory_limit");
}

// kSpawned carries the worker's socket and its denial page: two descriptors with one frame,
// in order; one that nobody asked for is closed.
TEST(WorkerProtocolTest, TwoDescriptorsRideAlongWithOneFrame) {
  int channel[2], first[2], second[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, channel), 0);
  ASSERT_EQ(::pipe2(first, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(second, O_CLOEXEC), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  auto inode = [](int fd) {
    struct stat st {};
    ::fstat(fd, &st);
    return st.st_ino;
  };
  for (bool want_second : {true, false}) {
    ASSERT_TRUE(SendFrame(channel[0], FrameType::kSpawned, 0, 0, "x", deadline, first[0],
                          second[0]).ok());
    FrameHeader header;
    std::string payload;
    int got_first = -1, got_second = -1;
    const int open_before = CountOpenFds();
    ASSERT_TRUE(RecvFrame(channel[1], 64, deadline, &header, &payload, &got_first,
                          want_second ? &got_second : nullptr).ok());
    EXPECT_EQ(payload, "x");
    EXPECT_EQ(inode(got_first), inode(first[0]));
    if (want_second) {
      EXPECT_EQ(inode(got_second), inode(second[0]));
      ::close(got_second);
    } else {
      EXPECT_EQ(CountOpenFds(), open_before + 1);  // only the first stays
    }
    ::close(got_first);
  }
  for (int fd : {channel[0], channel[1], first[0], first[1], second[0], second[1]}) ::close(fd);
}

TEST(WorkerLossTest, WaitStatusesAreDescribedForMessages) {
  EXPECT_EQ(DescribeWaitStatus(Signalled(SIGSEGV)),
            "killed by signal SIGSEGV (Segmentation fault)");
  EXPECT_EQ(DescribeWaitStatus(Exited(3)), "exited with status 3");
  EXPECT_THAT(SandboxTrapHint(Signalled(SIGSYS)), HasSubstr("on_denial KILL"));
  EXPECT_EQ(SandboxTrapHint(Signalled(SIGSEGV)), "");
  EXPECT_EQ(SandboxTrapHint(Exited(0)), "");
}

}  // namespace
}  // namespace fnhost::internal
