// Checkpoints of format v1 (a bare LibTorch archive) and v2 (the archive behind a
// checksummed header line), as written before v3 (training/checkpoint.h). They are read
// only by `diffuse upgrade-checkpoint`, which converts them to v3: LibTorch's archive
// reader runs a pickle interpreter that trusts its input (a crafted file behind a valid
// checksum crashed it under libFuzzer), so upgrade only files you wrote yourself.
#ifndef DIFFUSE_TRAINING_LEGACY_CHECKPOINT_H_
#define DIFFUSE_TRAINING_LEGACY_CHECKPOINT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "training/checkpoint.h"  // TrainingState; declares torch::nn::Module, Optimizer

namespace diffuse {

// The description a v1/v2 checkpoint was trained from, to rebuild its network.
absl::StatusOr<std::string> LegacyPipelineText(const std::string& path);

// As LoadCheckpoint, for v1/v2 files.
absl::Status LoadLegacyCheckpoint(const std::string& path, torch::nn::Module& module,
                                  torch::optim::Optimizer* optimizer, TrainingState* state);

// Writes a v2 file, so that tests can exercise the upgrade path.
absl::Status SaveLegacyCheckpoint(const std::string& path, torch::nn::Module& module,
                                  torch::optim::Optimizer& optimizer, const TrainingState& state);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_LEGACY_CHECKPOINT_H_
