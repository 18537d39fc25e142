// What keeps a long-running job safe to stop and exclusive to its output directory:
//  - StopOnSignals: SIGTERM / SIGINT ask the job to stop at the next safe point (after the
//    current step, with a checkpoint written) instead of killing it mid-step. A second signal
//    of the same kind kills as usual (the handler is one-shot).
//  - DirectoryLock: an advisory flock(2) on <dir>/.lock, so that a second writer to the same
//    directory fails with a named error instead of racing. The kernel drops it when the
//    holder exits, however it exits (kill -9 included), so there is never a stale lock.
#ifndef DIFFUSE_UTIL_RUN_CONTROL_H_
#define DIFFUSE_UTIL_RUN_CONTROL_H_

#include <csignal>
#include <string>

#include "absl/status/statusor.h"

namespace diffuse {

class StopOnSignals {
 public:
  StopOnSignals();   // installs the handlers (and forgets any earlier request)
  ~StopOnSignals();  // restores the previous handlers
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

  // The signal received since construction (SIGTERM or SIGINT), or 0.
  int requested() const;

 private:
  struct sigaction previous_term_, previous_int_;
};

// The last stop signal any StopOnSignals received in this process, or 0: the exit status of
// a stopped job is 128 + this, as a shell reports a process killed by the signal.
int ReceivedStopSignal();

class DirectoryLock {
 public:
  // Locks `dir` (which must exist). FAILED_PRECONDITION when another process holds it,
  // naming the directory, the lock file and the holder's pid.
  static absl::StatusOr<DirectoryLock> Acquire(const std::string& dir);
  DirectoryLock(DirectoryLock&& other) noexcept;
  DirectoryLock& operator=(DirectoryLock&&) = delete;
  ~DirectoryLock();

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_RUN_CONTROL_H_
