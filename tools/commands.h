// The verbs of the diffuse CLI, one per file (tools/<verb>_command.cc); diffuse.cc dispatches.
#ifndef DIFFUSE_TOOLS_COMMANDS_H_
#define DIFFUSE_TOOLS_COMMANDS_H_

#include "absl/status/status.h"

namespace diffuse {

absl::Status DemoCommand();
absl::Status TrainCommand();
absl::Status SampleCommand();
absl::Status EvalCommand();
absl::Status ExportCommand();
absl::Status TrainClassifierCommand();
absl::Status ImportSchedulerCommand();
absl::Status EncodeCommand();
absl::Status DecodeCommand();
absl::Status VaryCommand();
absl::Status InterpolateCommand();
absl::Status ManipulateCommand();
absl::Status TrainLatentPriorCommand();
absl::Status UpgradeCheckpointCommand();
absl::Status ZeroShotCommand();
absl::Status EditCommand();
absl::Status ElboCommand();

}  // namespace diffuse

#endif  // DIFFUSE_TOOLS_COMMANDS_H_
