#include "util/run_control.h"

#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(DirectoryLockTest, ASecondHolderIsRefusedUntilTheFirstLetsGo) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/locked";
  ::mkdir(dir.c_str(), 0755);
  {
    absl::StatusOr<DirectoryLock> first = DirectoryLock::Acquire(dir);
    ASSERT_THAT(first, IsOk());
    // flock(2) locks belong to open file descriptions, so a second open in this process
    // conflicts exactly as another process would.
    EXPECT_THAT(DirectoryLock::Acquire(dir),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         AllOf(HasSubstr(dir + " is in use by another run (pid " +
                                         std::to_string(getpid()) + ")"),
                               HasSubstr(dir + "/.lock"))));
  }
  EXPECT_THAT(DirectoryLock::Acquire(dir), IsOk());
  EXPECT_THAT(DirectoryLock::Acquire("/nonexistent/dir"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("/nonexistent/dir/.lock")));
}

int g_custom_calls = 0;
void Custom(int) { ++g_custom_calls; }

TEST(StopOnSignalsTest, RecordsTheSignalAndRestoresTheHandler) {
  std::signal(SIGTERM, Custom);
  {
    StopOnSignals stop;
    EXPECT_EQ(stop.requested(), 0);
    std::raise(SIGTERM);  // the handler only records it: the test process lives on
    EXPECT_EQ(stop.requested(), SIGTERM);
    EXPECT_EQ(ReceivedStopSignal(), SIGTERM);
  }
  EXPECT_EQ(g_custom_calls, 0);
  std::raise(SIGTERM);
  EXPECT_EQ(g_custom_calls, 1);
  {
    StopOnSignals stop;  // a new run forgets the earlier request
    EXPECT_EQ(stop.requested(), 0);
    std::raise(SIGINT);
    EXPECT_EQ(stop.requested(), SIGINT);
  }
  std::signal(SIGTERM, SIG_DFL);
}

}  // namespace
}  // namespace diffuse
