// The loop both evaluation networks train with (the Fashion-MNIST classifier, the image
// evaluator): Adam over epochs of a fixed set of examples, a checkpoint after every epoch,
// and on SIGINT / SIGTERM one written mid-epoch, from which the same call resumes exactly
// (the generator state at the start of the epoch is what is checkpointed, so a resumed
// epoch draws its order again and skips the batches it did; dropout is seeded per step).
#ifndef DIFFUSE_EVAL_EPOCH_TRAINING_H_
#define DIFFUSE_EVAL_EPOCH_TRAINING_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

struct EpochTraining {
  std::string what;         // "classifier", "evaluator": progress lines and errors
  std::string dir;          // holds the checkpoint `file` (locked while training)
  std::string file;         // e.g. "classifier.pt"
  // TrainingState::pipeline_text: a checkpoint written with another is refused, naming the
  // first line that differs.
  std::string description;
  int64_t examples = 0, epochs = 1, batch_size = 1, log_every = 1;
  double learning_rate = 1e-3;
  uint64_t seed = 0;
};

// Draws an epoch's own randomness (flips, shifts) from the training generator, after the
// epoch's order.
using EpochDraws = std::function<void(at::Generator& generator)>;
// The loss of the examples `index` (batch `batch` of the epoch), differentiable in the
// module's parameters.
using BatchLoss = std::function<at::Tensor(const at::Tensor& index, int64_t batch)>;

struct EpochTrainingResult {
  int64_t steps = 0;
  double seconds = 0;  // this call's
};

// Trains `module` (its parameters seeded by the caller) for the epochs; CANCELLED after a
// stop signal, once the checkpoint is written.
absl::StatusOr<EpochTrainingResult> TrainEpochs(const EpochTraining& training,
                                                torch::nn::Module& module,
                                                const EpochDraws& draws, const BatchLoss& loss,
                                                std::ostream* progress);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_EPOCH_TRAINING_H_
