// Busy-polling on the call channel (SpinPolicy, Doorbell, RecvCallFrame with a BellWait): the
// spin is bounded and adaptive, a doorbell from a peer must be a sealed page, the socket stays
// the only source of frames (a false ring or a silent bell changes nothing but the spin), a
// spinning reader reports garbage, a closed peer and a deadline as a blocking one does, and a
// worker left idle stops spinning and blocks in its read.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "fnhost/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/isolation/worker_protocol.h"
#include "src/isolation/zygote_client.h"
#include "tests/support/test_util.h"

namespace fnhost {
namespace {

using internal::BellWait;
using internal::FrameHeader;
using internal::FrameType;
using internal::RecvCallFrame;
using internal::SendFrame;
using internal::SpinPolicy;
using ::fnhost::testing::TestModule;
using ::testing::HasSubstr;

// Records `misses` waits longer than the budget, each followed by the blocking waits it
// causes; returns how many waits blocked at once.
int MissAndCountSkips(SpinPolicy& spin, int misses) {
  int skipped = 0;
  for (int i = 0; i < misses; ++i) {
    EXPECT_GT(spin.Next(), absl::ZeroDuration());
    spin.Record(absl::Milliseconds(3));
    for (; spin.Next() == absl::ZeroDuration(); ++skipped) spin.Record(absl::Microseconds(1));
  }
  return skipped;
}

TEST(SpinPolicyTest, SpinsWhileItPaysOffAndBacksOffWhenItDoesNot) {
  const absl::Duration budget = absl::Microseconds(50);
  SpinPolicy spin(budget);
  EXPECT_EQ(spin.Next(), budget);  // a fresh channel is taken to be busy
  spin.Record(absl::Microseconds(10));
  EXPECT_EQ(spin.Next(), budget);
  // A slow call, an idle peer or a crowded CPU: 1, then 2, then 4 waits block at once...
  EXPECT_EQ(MissAndCountSkips(spin, 1), 1);
  EXPECT_EQ(MissAndCountSkips(spin, 1), 2);
  EXPECT_EQ(MissAndCountSkips(spin, 1), 4);
  // ... up to kMaxBackoff per miss.
  EXPECT_EQ(MissAndCountSkips(spin, 10), 8 + 16 + 32 + 7 * SpinPolicy::kMaxBackoff);
  // A spin that pays off again starts the backoff over.
  spin.Record(budget);
  EXPECT_EQ(spin.Next(), budget);
  EXPECT_EQ(MissAndCountSkips(spin, 1), 1);
}

TEST(SpinPolicyTest, BudgetIsCappedAndZeroOrNegativeTurnsItOff) {
  EXPECT_EQ(SpinPolicy(absl::Seconds(10)).Next(), SpinPolicy::kMaxBudget);
  EXPECT_EQ(SpinPolicy(absl::InfiniteDuration()).Next(), SpinPolicy::kMaxBudget);
  SpinPolicy off(absl::ZeroDuration());
  EXPECT_EQ(off.Next(), absl::ZeroDuration());
  off.Record(absl::ZeroDuration());
  EXPECT_EQ(off.Next(), absl::ZeroDuration());
  off.Record(absl::Milliseconds(3));
  EXPECT_EQ(off.Next(), absl::ZeroDuration());
  EXPECT_EQ(SpinPolicy(absl::Microseconds(-1)).Next(), absl::ZeroDuration());
}

TEST(DoorbellTest, BothMappingsShareTheCounters) {
  int fd = -1;
  internal::Doorbell* mine = internal::CreateDoorbell(&fd);
  ASSERT_NE(mine, nullptr);
  ASSERT_GE(fd, 0);
  absl::StatusOr<internal::Doorbell*> theirs = internal::MapPeerDoorbell(fd);
  ::close(fd);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_EQ((*theirs)->request.load(), 0u);
  mine->request.fetch_add(1);
  (*theirs)->response.fetch_add(2);
  EXPECT_EQ((*theirs)->request.load(), 1u);
  EXPECT_EQ(mine->response.load(), 2u);
  internal::UnmapDoorbell(*theirs);
  internal::UnmapDoorbell(mine);
}

TEST(DoorbellTest, APeerDoorbellMustBeASealedPage) {
  // Unsealed, the peer could shrink it and make this process fault on its next read.
  int fd = ::memfd_create("unsealed", MFD_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, internal::kDoorbellBytes), 0);
  absl::StatusOr<internal::Doorbell*> bell = internal::MapPeerDoorbell(fd);
  EXPECT_EQ(bell.status().code(), absl::StatusCode::kDataLoss) << bell.status();
  ::close(fd);
  // Sealed, but of the wrong size.
  fd = ::memfd_create("small", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 64), 0);
  ASSERT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), 0);
  bell = internal::MapPeerDoorbell(fd);
  EXPECT_EQ(bell.status().code(), absl::StatusCode::kDataLoss) << bell.status();
  ::close(fd);
}

// Both ends of a socketpair and a doorbell, closed at the end.
class CallChannelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    int fd = -1;
    bell_ = internal::CreateDoorbell(&fd);
    ASSERT_NE(bell_, nullptr);
    ::close(fd);
  }
  void TearDown() override {
    internal::UnmapDoorbell(bell_);
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }

  // Reads a frame from fds_[0], spinning on the response counter as a host does.
  absl::Status Receive(absl::Time deadline, uint32_t before) {
    BellWait wait{&bell_->response, before, &spin_};
    return RecvCallFrame(fds_[0], 1024, deadline, &header_, &payload_, &wait);
  }

  int fds_[2] = {-1, -1};
  internal::Doorbell* bell_ = nullptr;
  SpinPolicy spin_{SpinPolicy::kMaxBudget};
  FrameHeader header_{};
  std::string payload_;
};

TEST_F(CallChannelTest, TakesFramesWhetherTheBellRangOrNot) {
  for (absl::Time deadline : {absl::InfiniteFuture(), Clock::Real()->Now() + absl::Hours(1)}) {
    // Rung, as a worker does after its response.
    uint32_t before = bell_->response.load();
    ASSERT_TRUE(SendFrame(fds_[1], FrameType::kResponse, 0, 0, "rung", deadline).ok());
    bell_->response.fetch_add(1);
    ASSERT_TRUE(Receive(deadline, before).ok());
    EXPECT_EQ(payload_, "rung");
    // Not rung (a peer that does not ring, or scribbled on the page): the spin runs out and
    // the frame is read from the socket all the same.
    ASSERT_TRUE(SendFrame(fds_[1], FrameType::kResponse, 0, 0, "silent", deadline).ok());
    ASSERT_TRUE(Receive(deadline, bell_->response.load()).ok());
    EXPECT_EQ(payload_, "silent");
  }
}

TEST_F(CallChannelTest, AFalseRingDoesNotMakeAFrame) {
  // The bell rings, but nothing is on the socket: the reader waits for the socket, and here
  // runs into the deadline, as without a bell.
  bell_->response.fetch_add(1);
  absl::Status status = Receive(Clock::Real()->Now() + absl::Milliseconds(20), 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
}

TEST_F(CallChannelTest, GarbageAfterARingIsCaught) {
  const char garbage[] = "this is not a frame at all";
  ASSERT_EQ(::write(fds_[1], garbage, sizeof(garbage)), static_cast<ssize_t>(sizeof(garbage)));
  bell_->response.fetch_add(1);
  absl::Status status = Receive(absl::InfiniteFuture(), 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("bad frame magic"));
}

TEST_F(CallChannelTest, TheSpinSeesThePeerClose) {
  ::close(fds_[1]);
  fds_[1] = -1;
  EXPECT_EQ(Receive(absl::InfiniteFuture(), bell_->response.load()).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(CallChannelTest, TheSpinNeverRunsPastTheDeadline) {
  // Nothing will arrive and the deadline has passed: the spin is cut to it, and the wait fails.
  absl::Status status =
      Receive(Clock::Real()->Now() - absl::Milliseconds(1), bell_->response.load());
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
}

// The state letter of a process ('R' running, 'S' sleeping...), or '?' if it cannot be read.
char ProcessState(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat;
  std::getline(in, stat);
  size_t end_of_name = stat.rfind(')');
  return end_of_name == std::string::npos || end_of_name + 2 >= stat.size()
             ? '?'
             : stat[end_of_name + 2];
}

TEST(IsolationSpinTest, AnIdleWorkerStopsSpinningAndBlocks) {
  ZygoteOptions options;
  options.config.mutable_module()->set_function_name("hello");
  options.config.mutable_module()->set_module_path(TestModule("hello"));
  // Capped at SpinPolicy::kMaxBudget.
  options.config.mutable_worker()->set_spin_budget_nanos(
      absl::ToInt64Nanoseconds(absl::Seconds(10)));
  absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
  ASSERT_TRUE(zygote.ok()) << zygote.status();
  absl::StatusOr<std::unique_ptr<Worker>> worker = (*zygote)->SpawnWorker();
  ASSERT_TRUE(worker.ok()) << worker.status();
  std::string response;
  ASSERT_TRUE((*worker)->Invoke("world", &response).ok());
  EXPECT_EQ(response, "hello, world");

  // After its response the worker polls for at most the capped budget, then sleeps in its read.
  // The wait below is for that state, bounded far above the budget; it measures nothing.
  const pid_t pid = (*worker)->pid();
  char state = '?';
  for (int i = 0; i < 10'000 && (state = ProcessState(pid)) != 'S'; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(state, 'S') << "worker " << pid << " still not blocked";
  // And it serves again from there.
  ASSERT_TRUE((*worker)->Invoke("again", &response).ok());
  EXPECT_EQ(response, "hello, again");
}

// The faults of isolation_test.cc, with both ends spinning: the socket still tells what happened.
TEST(IsolationSpinTest, FaultsReadTheSameWhileSpinning) {
  struct Case {
    const char* module;
    const char* request;
    absl::StatusCode code;
    const char* says;
  };
  for (const Case& c : {
           Case{"segfault", "crash", absl::StatusCode::kUnavailable, "SIGSEGV"},
           Case{"garbage_ipc", "write:not a frame", absl::StatusCode::kUnavailable,
                "broke the channel protocol"},
           Case{"close_ipc", "close", absl::StatusCode::kUnavailable, "closed its channel"},
           Case{"loop_forever", "spin", absl::StatusCode::kDeadlineExceeded, "did not finish"},
       }) {
    SCOPED_TRACE(c.module);
    ZygoteOptions options;
    options.config.mutable_module()->set_function_name(c.module);
    options.config.mutable_module()->set_module_path(TestModule(c.module));
    options.config.mutable_worker()->set_spin_budget_nanos(
        absl::ToInt64Nanoseconds(SpinPolicy::kMaxBudget));
    options.invoke_timeout = absl::Milliseconds(200);  // a kill deadline, not a timing assertion
    absl::StatusOr<std::unique_ptr<Zygote>> zygote = Zygote::Start(options);
    ASSERT_TRUE(zygote.ok()) << zygote.status();
    absl::StatusOr<std::unique_ptr<Worker>> worker = (*zygote)->SpawnWorker();
    ASSERT_TRUE(worker.ok()) << worker.status();
    std::string response;
    ASSERT_TRUE((*worker)->Invoke("echo", &response).ok());  // spins, and the bell rings
    absl::Status status = (*worker)->Invoke(c.request, &response);
    EXPECT_EQ(status.code(), c.code) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.says));
    EXPECT_FALSE((*worker)->alive());
    absl::StatusOr<std::unique_ptr<Worker>> fresh = (*zygote)->SpawnWorker();
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    ASSERT_TRUE((*fresh)->Invoke("again", &response).ok());
    EXPECT_EQ(response, "again");
  }
}

}  // namespace
}  // namespace fnhost
