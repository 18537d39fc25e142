// Writes that never leave a partial file: content goes to `path.tmp.<pid>` in the same
// directory, is flushed, then renamed over `path` (rename(2) is atomic on POSIX).
#ifndef DIFFUSE_UTIL_ATOMIC_FILE_H_
#define DIFFUSE_UTIL_ATOMIC_FILE_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace diffuse {

// Replaces `path` with `contents` atomically.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// Calls `write(tmp_path)` to produce the file, then renames it onto `path`. If `write`
// fails, the temporary is removed and `path` is untouched.
absl::Status WriteAtomicallyWith(
    const std::string& path,
    const std::function<absl::Status(const std::string& tmp_path)>& write);

// Removes the temporaries `<name>.tmp.<pid>` in `dir` left by processes that no longer run
// (a writer killed mid-write); returns how many were removed.
int RemoveStaleTemporaries(const std::string& dir);

// Reads a whole file; NOT_FOUND names the path.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Creates `dir` and its parents if missing.
absl::Status MakeDirs(const std::string& dir);

// Whether `path` exists (any kind of file).
bool FileExists(const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_ATOMIC_FILE_H_
