// `diffuse upgrade-checkpoint --checkpoint=C [--out=C3]`: converts a checkpoint written
// before format v3 (a LibTorch archive) to v3 (training/checkpoint.h). Without --out it
// converts C in place and keeps the original beside it as C.v2. Upgrade only files you
// wrote: reading the old format runs LibTorch's archive reader, which trusts its input.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "tools/cli_common.h"
#include "util/atomic_file.h"
#include "tools/verb.h"
#include "tools/upgrade_checkpoint.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status UpgradeCheckpointCommand() {
  const std::string in = absl::GetFlag(FLAGS_checkpoint);
  std::string out = absl::GetFlag(FLAGS_out);
  if (in.empty()) return absl::InvalidArgumentError("--checkpoint is required");
  if (out.empty()) {
    // The v3 file is written beside C first; then C is hard-linked to C.v2 and the new file
    // renamed over C, so that a kill at any moment leaves the original under one name.
    const std::string fresh = in + ".v3";
    const std::string backup = in + ".v2";
    // A backup from an earlier conversion may be the only copy of an older file: never
    // replace it.
    if (FileExists(backup)) {
      return absl::AlreadyExistsError(absl::StrCat(
          backup, " exists (an earlier conversion's original); move it away, or give --out"));
    }
    ABSL_RETURN_IF_ERROR(UpgradeCheckpoint(in, fresh));
    if (link(in.c_str(), backup.c_str()) != 0 || std::rename(fresh.c_str(), in.c_str()) != 0) {
      const std::string why = std::strerror(errno);
      std::remove(fresh.c_str());
      return absl::InternalError(absl::StrCat("cannot replace ", in, ": ", why));
    }
    std::cout << "kept the original as " << backup << "\n";
    out = in;
  } else {
    ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}}));
    ABSL_RETURN_IF_ERROR(UpgradeCheckpoint(in, out));
  }
  std::cout << "wrote " << out << " (diffuse-checkpoint-v3)\n";
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("upgrade-checkpoint", UpgradeCheckpointCommand, /*trains=*/false);

}  // namespace diffuse
