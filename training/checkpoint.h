// Training checkpoints: model weights, their EMA, optimizer state, step, the training
// generator's state and the pipeline description that produced them. Written atomically
// (temp file + rename), so a kill at any moment leaves the previous checkpoint intact.
//
// File layout (v2): one header line, then a torch::serialize archive (a zip):
//   diffuse-checkpoint-v2 crc32=<8 hex digits> bytes=<archive size>\n<archive>
// The CRC-32 (zlib's, as Python's zlib.crc32) covers the archive, so a flipped byte or a
// truncated copy is refused on load instead of yielding wrong weights. v1 files (a bare
// archive, written before the header existed) still load, unchecked.
#ifndef DIFFUSE_TRAINING_CHECKPOINT_H_
#define DIFFUSE_TRAINING_CHECKPOINT_H_

#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include "absl/status/status.h"

namespace diffuse {

struct TrainingState {
  int64_t step = 0;             // optimizer steps taken
  at::Tensor generator_state;   // at::Generator::get_state()
  std::vector<at::Tensor> ema;  // one per module parameter, in parameters() order
  std::string pipeline_text;    // the description, text format
};

absl::Status SaveCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, const TrainingState& state);

// Restores `module` and `state` (and `optimizer` unless nullptr). NOT_FOUND for a missing
// file, DATA_LOSS for a corrupted or truncated one (checksum or length mismatch),
// INVALID_ARGUMENT when it does not fit the module (a parameter missing or of another
// shape, named); each names the path.
absl::Status LoadCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer* optimizer, TrainingState* state);

// Copies the EMA weights into the module's parameters (for sampling).
void UseEmaWeights(torch::nn::Module& module, const std::vector<at::Tensor>& ema);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_CHECKPOINT_H_
