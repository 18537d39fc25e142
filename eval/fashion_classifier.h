// The evaluation classifier for Fashion-MNIST: a small CNN trained by
// `diffuse train-classifier` on the training split. It scores generated images by (a) the
// accuracy with which class-conditional samples are recognized as their class and (b) the
// Fréchet distance between its penultimate features of samples and of the test split.
// This is NOT the Inception FID: the features come from this network, so the figures
// compare runs of this project, not papers.
#ifndef DIFFUSE_EVAL_FASHION_CLASSIFIER_H_
#define DIFFUSE_EVAL_FASHION_CLASSIFIER_H_

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace diffuse {

class FashionClassifierImpl;  // the network: eval/fashion_classifier_net.h

// The width of its penultimate features (what the Frechet distance compares).
inline constexpr int64_t kFashionClassifierFeatures = 128;

// The first words of a classifier checkpoint's description (TrainingState::pipeline_text).
inline constexpr char kClassifierCheckpointKind[] = "fashion_classifier v1";

struct ClassifierTrainingOptions {
  std::string data_dir;  // Fashion-MNIST IDX files
  int64_t epochs = 3;
  int64_t batch_size = 128;
  double learning_rate = 1e-3;
  uint64_t seed = 0;
  int64_t log_every = 100;  // a progress line every this many steps
};

struct ClassifierReport {
  int64_t steps = 0;
  double seconds = 0;
  double test_accuracy = 0;
};

// Trains on the training split (Adam, random horizontal flips), checkpointing
// `dir`/classifier.pt atomically after every epoch and resuming from it, then reports the
// test-split accuracy. SIGTERM / SIGINT end the current step, write a checkpoint and return
// CANCELLED; the same call resumes from that step, as exactly as from an epoch boundary.
absl::StatusOr<ClassifierReport> TrainFashionClassifier(const ClassifierTrainingOptions& options,
                                                        const std::string& dir,
                                                        std::ostream* progress);

// Loads a checkpoint written by TrainFashionClassifier (NOT_FOUND / DATA_LOSS name the path).
absl::StatusOr<std::shared_ptr<FashionClassifierImpl>> LoadFashionClassifier(
    const std::string& path);

// Logits and features of images [N, 1, 28, 28] in [-1, 1], in batches, without gradients.
struct ClassifierOutputs {
  at::Tensor logits;    // [N, 10]
  at::Tensor features;  // [N, 128]
};
ClassifierOutputs Classify(FashionClassifierImpl& classifier, const at::Tensor& images);

// The fraction of rows of logits [N, 10] whose argmax is the label [N].
double ClassifierAccuracy(const at::Tensor& logits, const at::Tensor& labels);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_FASHION_CLASSIFIER_H_
