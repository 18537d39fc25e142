// Training checkpoints: model weights, their EMA, optimizer state, step, the training
// generator's state and the pipeline description that produced them. Written atomically
// (temp file + rename), so a kill at any moment leaves the previous checkpoint intact.
//
// File layout (v3): one header line, then a safetensors blob (util/safetensors.h):
//   diffuse-checkpoint-v3 crc32=<8 hex digits> bytes=<blob size>\n<blob>
// The CRC-32 (zlib's, as Python's zlib.crc32) covers the blob, so a flipped byte or a
// truncated copy is refused on load instead of yielding wrong weights. The blob holds
//   param/<name>, buffer/<name>     the module's parameters and buffers (named_parameters())
//   ema/<name>                      their exponential moving average (absent: no EMA kept)
//   adam/<name>/{step, exp_avg, exp_avg_sq[, max_exp_avg_sq]}   Adam's or AdamW's state
//   generator_state                 at::Generator::get_state(), uint8
// and metadata "format", "pipeline" (the description, text format), "step", "optimizer".
// Nothing in it is parsed by LibTorch's archive reader (a pickle interpreter that trusts
// its input: a crafted file with a valid checksum crashed it under libFuzzer), so a
// hostile file is an error, never a crash; it is also readable from Python as
// safetensors after the header line. v1/v2 files (LibTorch archives) are refused with a
// pointer to `diffuse upgrade-checkpoint` (training/legacy_checkpoint.h).
#ifndef DIFFUSE_TRAINING_CHECKPOINT_H_
#define DIFFUSE_TRAINING_CHECKPOINT_H_

#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace diffuse {

struct TrainingState {
  int64_t step = 0;             // optimizer steps taken
  at::Tensor generator_state;   // at::Generator::get_state()
  std::vector<at::Tensor> ema;  // one per module parameter, in parameters() order
  std::string pipeline_text;    // the description, text format
  // What the objective keeps across steps (TrainingObjective::State): a target network, a
  // teacher's weights; stored as "objective/<name>".
  std::map<std::string, at::Tensor> objective_state;
};

// `optimizer` is a torch::optim::Adam or AdamW (the toolkit's trainers use nothing else).
absl::Status SaveCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, const TrainingState& state);

// Restores `module` and `state` (and `optimizer` unless nullptr). NOT_FOUND for a missing
// file, DATA_LOSS for a corrupted or truncated one (checksum or length mismatch, malformed
// blob), INVALID_ARGUMENT when it does not fit the module (a parameter missing, extra or of
// another shape, named), FAILED_PRECONDITION for a v1/v2 file; each names the path. A
// parameter stored in another dtype takes the stored one, as LibTorch's module.load did.
absl::Status LoadCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer* optimizer, TrainingState* state);

// The description a checkpoint was trained from (text format; its "pipeline" entry), with
// LoadCheckpoint's checks of the file (format, checksum, length) and its errors.
absl::StatusOr<std::string> ReadCheckpointDescription(const std::string& path);

// Copies the EMA weights into the module's parameters (for sampling).
void UseEmaWeights(torch::nn::Module& module, const std::vector<at::Tensor>& ema);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_CHECKPOINT_H_
