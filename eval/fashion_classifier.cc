#include "eval/fashion_classifier.h"

#include <ATen/core/grad_mode.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include <sys/stat.h>

#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/fashion_mnist_files.h"
#include "eval/fashion_classifier_net.h"
#include "training/checkpoint.h"
#include "util/atomic_file.h"
#include "util/run_control.h"
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
  if (o.epochs < 1 || o.batch_size < 1 || !(o.learning_rate > 0) || o.log_every < 1) {
    return absl::InvalidArgumentError(
        "classifier epochs, batch_size, learning_rate and log_every must be > 0");
  }
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit train, ReadFashionMnist(o.data_dir, true));
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit test, ReadFashionMnist(o.data_dir, false));
  ABSL_RETURN_IF_ERROR(MakeDirs(dir));
  // One trainer per directory, as for `train` (util/run_control.h).
  ABSL_ASSIGN_OR_RETURN(DirectoryLock lock, DirectoryLock::Acquire(dir));
  RemoveStaleTemporaries(dir);
  const std::string path = dir + "/classifier.pt";

  at::manual_seed(o.seed);
  FashionClassifier model;
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(o.learning_rate));
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  TrainingState state;
  state.pipeline_text = Describe(o);
  struct stat info;
  if (stat(path.c_str(), &info) == 0) {
    TrainingState loaded;
    ABSL_RETURN_IF_ERROR(LoadCheckpoint(path, *model, &optimizer, &loaded));
    if (loaded.pipeline_text != state.pipeline_text) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " was trained with '", loaded.pipeline_text, "', not '", state.pipeline_text,
          "'; use another directory"));
    }
    state.step = loaded.step;
    gen.set_state(loaded.generator_state);
  }

  const int64_t n = train.images.size(0);
  const int64_t steps_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  const int64_t total = o.epochs * steps_per_epoch;
  if (progress != nullptr && state.step > 0) {
    *progress << "resuming the classifier at step " << state.step << " of " << total << "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_step = state.step;
  StopOnSignals stop;
  auto stopped = [&] {
    return absl::CancelledError(absl::StrCat(
        "classifier training stopped by ", strsignal(stop.requested()), " after step ",
        state.step, " of ", total, "; checkpoint written to ", path,
        " (the same command resumes)"));
  };
  // The checkpointed generator state is the one at the start of the current epoch, so a
  // run stopped mid-epoch draws the same permutation and flips again and skips what it did.
  while (state.step < total) {
    const int64_t epoch = state.step / steps_per_epoch;
    state.generator_state = gen.get_state();
    const at::Tensor order = torch::randperm(n, gen, torch::kLong);
    const at::Tensor flips = torch::rand({n}, gen).lt(0.5);
    model->train();
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b = state.step % steps_per_epoch; b < steps_per_epoch; ++b) {
      // Dropout from a global seed per step: any step is a place to resume exactly.
      at::manual_seed(o.seed * 1000003 + state.step);
      const at::Tensor index = order.slice(0, b * o.batch_size, (b + 1) * o.batch_size);
      at::Tensor x = FashionMnistToFloat(train.images.index_select(0, index));
      x = torch::where(flips.index_select(0, index).view({-1, 1, 1, 1}), x.flip({3}), x);
      const at::Tensor loss =
          torch::nn::functional::cross_entropy(model->forward(x), train.labels.index_select(0, index));
      optimizer.zero_grad();
      loss.backward();
      optimizer.step();
      ++state.step;
      loss_sum += loss.item<double>();
      ++batches;
      if (progress != nullptr && state.step % o.log_every == 0) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double rate = (state.step - first_step) / seconds;
        *progress << absl::StrFormat(
            "classifier step %d/%d  %.0f img/s  ETA %.0f s  loss %.4f\n", state.step, total,
            rate * o.batch_size, (total - state.step) / rate, loss_sum / batches);
      }
      if (stop.requested() != 0 && b + 1 < steps_per_epoch) {
        ABSL_RETURN_IF_ERROR(SaveCheckpoint(path, *model, optimizer, state));
        return stopped();
      }
    }
    state.generator_state = gen.get_state();
    ABSL_RETURN_IF_ERROR(SaveCheckpoint(path, *model, optimizer, state));
    if (progress != nullptr) {
      *progress << absl::StrFormat("epoch %d done, mean loss %.4f; wrote %s\n", epoch + 1,
                                   loss_sum / batches, path);
    }
    if (stop.requested() != 0 && state.step < total) {
      return stopped();
    }
  }
  ClassifierReport report;
  report.steps = state.step;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
