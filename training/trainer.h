// Trains a description's network: each step draws a data batch and asks the description's
// training objective (training/objective.h) for the loss; Adam (or AdamW), an EMA of the
// weights, checkpoints, metrics.csv, progress lines, signals and data parallelism are here.
// assembly/train.h assembles the objective and calls this loop.
//
// Deterministic for a given training.seed: every draw (data, then the objective's: t, eps,
// condition dropout, ...) comes from one generator whose state is checkpointed with the
// weights, EMA and optimizer, so a run killed at any moment and started again resumes from
// its last checkpoint and ends with the weights an uninterrupted run would have.
#ifndef DIFFUSE_TRAINING_TRAINER_H_
#define DIFFUSE_TRAINING_TRAINER_H_

#include <memory>
#include <ostream>
#include <string>

#include <ATen/core/Tensor.h>
#include <torch/optim/optimizer.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/pipeline.pb.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

class Dataset;
class TrainingObjective;

struct TrainingSummary {
  int64_t first_step = 0;  // where this run started (> 0 after a resume)
  int64_t steps = 0;       // total steps now taken
  double first_loss = 0;   // mean loss over the first logging window of this run
  double final_loss = 0;   // mean loss over the last logging window
  double seconds = 0;
  bool wrote_checkpoint = true;  // false on the ranks > 0 of a data-parallel run
};

// The learning rate of optimizer step `step` (0-based): linear warmup over warmup_steps,
// then lr_schedule (constant, or cosine to learning_rate * final_lr_ratio at steps - 1).
double LearningRate(const TrainingOptions& options, int64_t step);

// The EMA decay applied after optimizer step `step` (0-based): ema_decay, or with
// ema_warmup min(ema_decay, (1 + step) / (10 + step)).
double EmaDecay(const TrainingOptions& options, int64_t step);

// INVALID_ARGUMENT naming the first of the training section's loop settings (steps,
// batch_size, learning rate and schedule, EMA, logging, checkpoints) or loss-field ranges
// that is out of range, or that the description has no training section.
absl::Status CheckTrainingOptions(const PipelineConfig& config);

// `module` moved to training.dtype and in train mode, and its optimizer: Adam, or AdamW
// with weight decay.
struct TrainedNetwork {
  torch::nn::Module* module;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  at::ScalarType dtype;  // training.dtype's
};
TrainedNetwork PrepareTraining(torch::nn::Module& module, const TrainingOptions& options);

// What Train runs: the description (its training section; stored in the checkpoint), the
// network the optimizer updates, the data and the objective, all owned by the caller.
struct TrainingRun {
  const PipelineConfig* config = nullptr;
  torch::nn::Module* module = nullptr;
  Dataset* data = nullptr;
  TrainingObjective* objective = nullptr;
};

// Trains into `out_dir` (checkpoint.pt, metrics.csv), resuming from out_dir's checkpoint
// when one exists. Progress lines go to `progress` (may be nullptr). Stops with
// INVALID_ARGUMENT on a non-finite loss, leaving the last good checkpoint. Holds out_dir's
// lock (util/run_control.h): FAILED_PRECONDITION while another run trains there. SIGTERM or
// SIGINT end the current step, write a checkpoint and return CANCELLED.
absl::StatusOr<TrainingSummary> Train(const TrainingRun& run, const std::string& out_dir,
                                      std::ostream* progress);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_TRAINER_H_
