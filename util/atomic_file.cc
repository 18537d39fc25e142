#include "util/atomic_file.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace diffuse {

absl::Status WriteAtomicallyWith(
    const std::string& path,
    const std::function<absl::Status(const std::string& tmp_path)>& write) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  absl::Status status = write(tmp);
  if (status.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    status = absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ",
                                              path, ": ", std::strerror(errno)));
  }
  if (!status.ok()) std::remove(tmp.c_str());
  return status;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  return WriteAtomicallyWith(path, [&](const std::string& tmp) {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
    }
    bool ok = std::fwrite(contents.data(), 1, contents.size(), f) ==
                  contents.size() &&
              std::fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = std::fclose(f) == 0 && ok;
    if (!ok) {
      return absl::DataLossError(absl::StrCat("short write to ", path));
    }
    return absl::OkStatus();
  });
}

int RemoveStaleTemporaries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  int removed = 0;
  while (const dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    const size_t mark = name.rfind(".tmp.");
    int pid = 0;
    if (mark == std::string::npos || !absl::SimpleAtoi(name.substr(mark + 5), &pid)) continue;
    // kill(pid, 0) fails with ESRCH when no such process exists.
    if (pid > 0 && pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH &&
        std::remove((dir + "/" + name).c_str()) == 0) {
      ++removed;
    }
  }
  closedir(d);
  return removed;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status MakeDirs(const std::string& dir) {
  if (dir.empty()) return absl::OkStatus();
  std::string partial;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || (dir[i] == '/' && i > 0)) {
      partial = dir.substr(0, i);
      if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
        return absl::PermissionDeniedError(absl::StrCat(
            "cannot create directory ", partial, ": ", std::strerror(errno)));
      }
    }
  }
  return absl::OkStatus();
}

bool FileExists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

}  // namespace diffuse
