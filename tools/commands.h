// The verbs of the diffuse CLI that live in their own files (tools/<verb>_command.cc).
#ifndef DIFFUSE_TOOLS_COMMANDS_H_
#define DIFFUSE_TOOLS_COMMANDS_H_

#include "absl/status/status.h"

namespace diffuse {

absl::Status EncodeCommand();
absl::Status DecodeCommand();
absl::Status VaryCommand();
absl::Status InterpolateCommand();
absl::Status ManipulateCommand();
absl::Status TrainLatentPriorCommand();

}  // namespace diffuse

#endif  // DIFFUSE_TOOLS_COMMANDS_H_
