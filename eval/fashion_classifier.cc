#include "eval/fashion_classifier.h"

#include <ATen/core/grad_mode.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>


#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/fashion_mnist_files.h"
#include "eval/epoch_training.h"
#include "eval/fashion_classifier_net.h"
#include "training/checkpoint.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

torch::nn::Conv2dOptions Conv3x3(int64_t in, int64_t out) {
  return torch::nn::Conv2dOptions(in, out, 3).padding(1);
}

std::string Describe(const ClassifierTrainingOptions& o) {
  return absl::StrFormat("%s epochs %d batch_size %d learning_rate %g seed %d", kClassifierCheckpointKind,
                         o.epochs, o.batch_size, o.learning_rate, o.seed);
}

}  // namespace

FashionClassifierImpl::FashionClassifierImpl()
    : conv1_(register_module("conv1", torch::nn::Conv2d(Conv3x3(1, 16)))),
      conv2_(register_module("conv2", torch::nn::Conv2d(Conv3x3(16, 32)))),
      conv3_(register_module("conv3", torch::nn::Conv2d(Conv3x3(32, 64)))),
      feature_(register_module("feature", torch::nn::Linear(64 * 7 * 7, kFeatures))),
      head_(register_module("head", torch::nn::Linear(kFeatures, 10))),
      dropout_(register_module("dropout", torch::nn::Dropout(0.3))) {}

at::Tensor FashionClassifierImpl::Features(const at::Tensor& x) {
  at::Tensor h = torch::max_pool2d(torch::relu(conv1_(x)), 2);
  h = torch::max_pool2d(torch::relu(conv2_(h)), 2);
  return torch::relu(feature_(torch::relu(conv3_(h)).flatten(1)));
}

at::Tensor FashionClassifierImpl::Logits(const at::Tensor& features) {
  return head_(dropout_(features));
}

double ClassifierAccuracy(const at::Tensor& logits, const at::Tensor& labels) {
  return logits.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
}

ClassifierOutputs Classify(FashionClassifierImpl& classifier, const at::Tensor& images) {
  at::NoGradGuard no_grad;
  classifier.eval();
  std::vector<at::Tensor> logits, features;
  for (int64_t i = 0; i < images.size(0); i += 500) {
    features.push_back(classifier.Features(images.slice(0, i, i + 500)));
    logits.push_back(classifier.Logits(features.back()));
  }
  return {torch::cat(logits), torch::cat(features)};
}

absl::StatusOr<ClassifierReport> TrainFashionClassifier(const ClassifierTrainingOptions& o,
                                                        const std::string& dir,
                                                        std::ostream* progress) {
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit train, ReadFashionMnist(o.data_dir, true));
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit test, ReadFashionMnist(o.data_dir, false));
  at::manual_seed(o.seed);
  FashionClassifier model;
  EpochTraining training;
  training.what = "classifier";
  training.dir = dir;
  training.file = "classifier.pt";
  training.description = Describe(o);
  training.examples = train.images.size(0);
  training.epochs = o.epochs;
  training.batch_size = o.batch_size;
  training.log_every = o.log_every;
  training.learning_rate = o.learning_rate;
  training.seed = o.seed;
  at::Tensor flips;  // random horizontal flips, one per image and epoch
  ABSL_ASSIGN_OR_RETURN(
      const EpochTrainingResult trained,
      TrainEpochs(
          training, *model, [&](at::Generator& gen) { flips = torch::rand({training.examples}, gen).lt(0.5); },
          [&](const at::Tensor& index, int64_t) {
            at::Tensor x = FashionMnistToFloat(train.images.index_select(0, index));
            x = torch::where(flips.index_select(0, index).view({-1, 1, 1, 1}), x.flip({3}), x);
            return torch::nn::functional::cross_entropy(model->forward(x),
                                                        train.labels.index_select(0, index));
          },
          progress));
  ClassifierReport report;
  report.steps = trained.steps;
  report.seconds = trained.seconds;
  const ClassifierOutputs out = Classify(*model, FashionMnistToFloat(test.images));
  report.test_accuracy = ClassifierAccuracy(out.logits, test.labels);
  return report;
}

absl::StatusOr<std::shared_ptr<FashionClassifierImpl>> LoadFashionClassifier(
    const std::string& path) {
  FashionClassifier model;
  TrainingState state;
  ABSL_RETURN_IF_ERROR(LoadCheckpoint(path, *model, nullptr, &state));
  if (state.pipeline_text.rfind(kClassifierCheckpointKind, 0) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not a Fashion-MNIST classifier checkpoint (it holds '",
                     state.pipeline_text.substr(0, 60), "')"));
  }
  return model.ptr();
}

}  // namespace diffuse
