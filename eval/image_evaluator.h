// The evaluation network of image folders (docs/emoji.md): a small CNN trained by
// `diffuse train-evaluator` on a data set's training split with one softmax head per
// attribute (image_folder's attribute_columns: category, style, skin tone, gender on the
// emoji sets). Its penultimate features give a Fréchet distance between sets of images; its
// heads read the properties a prompt asked for (prompt adherence). Like the Fashion-MNIST
// classifier it is this project's yardstick, not Inception: its figures compare runs here.
#ifndef DIFFUSE_EVAL_IMAGE_EVALUATOR_H_
#define DIFFUSE_EVAL_IMAGE_EVALUATOR_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "data/dataset.h"

namespace diffuse {

class ImageEvaluatorNetImpl;  // the network (image_evaluator.cc)

// The first line of an evaluator checkpoint's description (TrainingState::pipeline_text).
inline constexpr char kImageEvaluatorCheckpointKind[] = "image_evaluator v1";

struct ImageEvaluator {
  std::vector<int64_t> shape;          // [C, H, W] of the images it reads
  std::vector<DataAttribute> heads;    // one per attribute, in the data's order
  std::shared_ptr<ImageEvaluatorNetImpl> net;
};

struct EvaluatorTrainingOptions {
  int64_t epochs = 15;
  int64_t batch_size = 128;
  double learning_rate = 2e-3;
  uint64_t seed = 0;
  int64_t log_every = 20;  // a progress line every this many steps
};

struct EvaluatorReport {
  int64_t steps = 0;
  double seconds = 0;
  // Per head: the accuracy on the test split's examples whose value is known.
  std::vector<double> test_accuracy;
};

// Trains on every example of `train` (Adam; random shifts of up to 2 pixels, no flips: text
// and flags do not survive them), one cross-entropy per head over the examples whose value
// is known, checkpointing `dir`/evaluator.pt atomically after every epoch and resuming
// from it (SIGINT / SIGTERM: the current step ends, a checkpoint is written, CANCELLED;
// the same call resumes exactly). FAILED_PRECONDITION when the data has no attributes.
absl::StatusOr<EvaluatorReport> TrainImageEvaluator(const Dataset& train, const Dataset& test,
                                                    const EvaluatorTrainingOptions& options,
                                                    const std::string& dir,
                                                    std::ostream* progress);

// Loads a checkpoint written by TrainImageEvaluator (errors name the path).
absl::StatusOr<ImageEvaluator> LoadImageEvaluator(const std::string& path);

struct EvaluatorOutputs {
  at::Tensor features;             // [N, F]
  std::vector<at::Tensor> logits;  // per head [N, K_h]
};
// Images [N, C, H, W] in [-1, 1] (the evaluator's shape; INVALID_ARGUMENT otherwise), in
// batches, without gradients.
absl::StatusOr<EvaluatorOutputs> Evaluate(ImageEvaluator& evaluator, const at::Tensor& images);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_IMAGE_EVALUATOR_H_
