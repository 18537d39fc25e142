#include "eval/image_evaluator.h"

#include <sys/stat.h>

#include <chrono>
#include <cstring>

#include <ATen/core/grad_mode.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "training/checkpoint.h"
#include "util/atomic_file.h"
#include "util/run_control.h"
#include "util/status_macros.h"

namespace diffuse {

// conv(C->32) conv(32->32) pool | conv(32->64) conv(64->64) pool | conv(64->128) pool |
// linear(128 H W / 64 -> 256) = features | dropout | one linear head per attribute; 3x3
// convolutions with ReLU. About 60 MFLOP per 32 x 32 image: an epoch of the emoji training
// split takes under a minute on two cores.
class ImageEvaluatorNetImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kFeatures = 256;
  ImageEvaluatorNetImpl(const std::vector<int64_t>& shape, const std::vector<int64_t>& classes)
      : convs_(register_module("convs", torch::nn::ModuleList())),
        heads_(register_module("heads", torch::nn::ModuleList())),
        dropout_(register_module("dropout", torch::nn::Dropout(0.3))) {
    const int64_t widths[][2] = {{shape[0], 32}, {32, 32}, {32, 64}, {64, 64}, {64, 128}};
    for (const auto& w : widths) {
      convs_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(w[0], w[1], 3).padding(1)));
    }
    feature_ = register_module(
        "feature", torch::nn::Linear(128 * (shape[1] / 8) * (shape[2] / 8), kFeatures));
    for (int64_t k : classes) heads_->push_back(torch::nn::Linear(kFeatures, k));
  }
  at::Tensor Features(const at::Tensor& x) {
    at::Tensor h = x;
    for (size_t i = 0; i < convs_->size(); ++i) {
      h = torch::relu(convs_[i]->as<torch::nn::Conv2dImpl>()->forward(h));
      if (i == 1 || i == 3 || i == 4) h = torch::max_pool2d(h, 2);
    }
    return torch::relu(feature_(h.flatten(1)));
  }
  std::vector<at::Tensor> Logits(const at::Tensor& features) {
    const at::Tensor f = dropout_(features);
    std::vector<at::Tensor> out;
    for (const auto& head : *heads_) out.push_back(head->as<torch::nn::LinearImpl>()->forward(f));
    return out;
  }

 private:
  torch::nn::ModuleList convs_, heads_;
  torch::nn::Linear feature_{nullptr};
  torch::nn::Dropout dropout_;
};

namespace {

// What the checkpoint records, and what Load rebuilds the network from: the kind, the
// shape, the training options, then one line per head (name, tab, its values tab-separated).
std::string Describe(const std::vector<int64_t>& shape, const std::vector<DataAttribute>& heads,
                     const EvaluatorTrainingOptions& o) {
  std::string text = absl::StrFormat(
      "%s\nshape %s\nepochs %d batch_size %d learning_rate %g seed %d\n",
      kImageEvaluatorCheckpointKind, absl::StrJoin(shape, " "), o.epochs, o.batch_size,
      o.learning_rate, o.seed);
  for (const DataAttribute& h : heads) {
    absl::StrAppend(&text, "head ", h.name, "\t", absl::StrJoin(h.values, "\t"), "\n");
  }
  return text;
}

std::vector<int64_t> HeadSizes(const std::vector<DataAttribute>& heads) {
  std::vector<int64_t> sizes;
  for (const DataAttribute& h : heads) sizes.push_back(static_cast<int64_t>(h.values.size()));
  return sizes;
}

// Mean cross-entropy of every head over the examples whose value is known (-1: unknown).
at::Tensor HeadLoss(const std::vector<at::Tensor>& logits, const at::Tensor& targets) {
  at::Tensor loss = torch::zeros({});
  for (size_t h = 0; h < logits.size(); ++h) {
    const at::Tensor t = targets.select(1, h);
    const at::Tensor known = t.ge(0);
    if (known.any().item<bool>()) {
      loss = loss + torch::nn::functional::cross_entropy(logits[h].index({known}), t.index({known}));
    }
  }
  return loss;
}

// A random translation of the whole batch by up to 2 pixels, edges replicated.
at::Tensor Shift(const at::Tensor& x, at::Generator& gen) {
  const at::Tensor d = torch::randint(-2, 3, {2}, gen, torch::kLong);
  const int64_t dy = d[0].item<int64_t>(), dx = d[1].item<int64_t>();
  const at::Tensor padded = torch::replication_pad2d(x, {2, 2, 2, 2});
  return padded.slice(2, 2 + dy, 2 + dy + x.size(2)).slice(3, 2 + dx, 2 + dx + x.size(3));
}

}  // namespace

absl::StatusOr<EvaluatorOutputs> Evaluate(ImageEvaluator& e, const at::Tensor& images) {
  if (images.dim() != 4 || images.sizes().slice(1) != at::IntArrayRef(e.shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the evaluator reads images [N, ", absl::StrJoin(e.shape, ", "), "], got [",
        absl::StrJoin(images.sizes(), ", "), "]"));
  }
  at::NoGradGuard no_grad;
  e.net->eval();
  std::vector<at::Tensor> features;
  std::vector<std::vector<at::Tensor>> logits(e.heads.size());
  for (int64_t i = 0; i < images.size(0); i += 256) {
    features.push_back(e.net->Features(images.slice(0, i, i + 256).to(torch::kFloat32)));
    const std::vector<at::Tensor> l = e.net->Logits(features.back());
    for (size_t h = 0; h < l.size(); ++h) logits[h].push_back(l[h]);
  }
  EvaluatorOutputs out;
  out.features = torch::cat(features);
  for (auto& l : logits) out.logits.push_back(torch::cat(l));
  return out;
}

absl::StatusOr<EvaluatorReport> TrainImageEvaluator(const Dataset& train, const Dataset& test,
                                                    const EvaluatorTrainingOptions& o,
                                                    const std::string& dir,
                                                    std::ostream* progress) {
  if (o.epochs < 1 || o.batch_size < 1 || !(o.learning_rate > 0) || o.log_every < 1) {
    return absl::InvalidArgumentError(
        "evaluator epochs, batch_size, learning_rate and log_every must be > 0");
  }
  const std::vector<DataAttribute> heads = train.attributes();
  const std::vector<int64_t> shape = train.sample_shape();
  if (heads.empty() || train.num_examples() == 0) {
    return absl::FailedPreconditionError(
        "the evaluator learns the data's attributes: give data \"image_folder\" "
        "attribute_columns (and a finite training split)");
  }
  if (shape.size() != 3 || shape[1] % 8 != 0 || shape[2] % 8 != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the evaluator reads images [C, H, W] with H and W divisible by 8, not [",
        absl::StrJoin(shape, ", "), "]"));
  }
  const DataBatch all = train.Examples(0, train.num_examples());
  ABSL_RETURN_IF_ERROR(MakeDirs(dir));
  ABSL_ASSIGN_OR_RETURN(DirectoryLock lock, DirectoryLock::Acquire(dir));
  RemoveStaleTemporaries(dir);
  const std::string path = dir + "/evaluator.pt";

  at::manual_seed(o.seed);
  auto model = std::make_shared<ImageEvaluatorNetImpl>(shape, HeadSizes(heads));
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(o.learning_rate));
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  TrainingState state;
  state.pipeline_text = Describe(shape, heads, o);
  struct stat info;
  if (stat(path.c_str(), &info) == 0) {
    TrainingState loaded;
    ABSL_RETURN_IF_ERROR(LoadCheckpoint(path, *model, &optimizer, &loaded));
    if (loaded.pipeline_text != state.pipeline_text) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, " was trained on other data or options; use another directory"));
    }
    state.step = loaded.step;
    gen.set_state(loaded.generator_state);
  }
  const int64_t n = all.x.size(0);
  const int64_t steps_per_epoch = (n + o.batch_size - 1) / o.batch_size;
  const int64_t total = o.epochs * steps_per_epoch;
  if (progress != nullptr && state.step > 0) {
    *progress << "resuming the evaluator at step " << state.step << " of " << total << "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  const int64_t first_step = state.step;
  StopOnSignals stop;
  auto stopped = [&] {
    return absl::CancelledError(absl::StrCat(
        "evaluator training stopped by ", strsignal(stop.requested()), " after step ",
        state.step, " of ", total, "; checkpoint written to ", path,
        " (the same command resumes)"));
  };
  // The checkpointed generator state is the one at the start of the current epoch, so a
  // run stopped mid-epoch draws the same order again and skips the batches it did.
  while (state.step < total) {
    const int64_t epoch = state.step / steps_per_epoch;
    state.generator_state = gen.get_state();
    const at::Tensor order = torch::randperm(n, gen, torch::kLong);
    std::vector<at::Tensor> shifts;  // one draw pair per batch, drawn up front
    at::Generator shift_gen = at::detail::createCPUGenerator(o.seed * 7919 + epoch);
    model->train();
    double loss_sum = 0;
    int64_t batches = 0;
    for (int64_t b = 0; b < steps_per_epoch; ++b) {
      const at::Tensor index = order.slice(0, b * o.batch_size, (b + 1) * o.batch_size);
      const at::Tensor x = Shift(all.x.index_select(0, index), shift_gen);
      if (b < state.step % steps_per_epoch) continue;  // done before a resume
      at::manual_seed(o.seed * 1000003 + state.step);  // dropout: any step resumes exactly
      const at::Tensor loss =
          HeadLoss(model->Logits(model->Features(x)), all.attributes.index_select(0, index));
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
            "evaluator step %d/%d  %.0f img/s  ETA %.0f s  loss %.4f\n", state.step, total,
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
                                   batches > 0 ? loss_sum / batches : 0.0, path);
    }
    if (stop.requested() != 0 && state.step < total) return stopped();
  }
  EvaluatorReport report;
  report.steps = state.step;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ImageEvaluator evaluator{shape, heads, model};
  const DataBatch held_out = test.Examples(0, test.num_examples());
  ABSL_ASSIGN_OR_RETURN(EvaluatorOutputs out, Evaluate(evaluator, held_out.x));
  for (size_t h = 0; h < heads.size(); ++h) {
    const at::Tensor t = held_out.attributes.select(1, h);
    const at::Tensor known = t.ge(0);
    report.test_accuracy.push_back(
        out.logits[h].argmax(1).eq(t).logical_and(known).sum().item<double>() /
        std::max<int64_t>(1, known.sum().item<int64_t>()));
  }
  return report;
}

absl::StatusOr<ImageEvaluator> LoadImageEvaluator(const std::string& path) {
  // The description first (it sizes the network), then the weights into that network.
  ABSL_ASSIGN_OR_RETURN(const std::string description, ReadCheckpointDescription(path));
  const std::vector<std::string> lines = absl::StrSplit(description, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kImageEvaluatorCheckpointKind) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " is not an image evaluator checkpoint (it holds '",
        description.substr(0, 60), "')"));
  }
  ImageEvaluator e;
  for (const std::string& line : lines) {
    if (absl::StartsWith(line, "shape ")) {
      for (absl::string_view v : absl::StrSplit(line.substr(6), ' ')) {
        int64_t d = 0;
        if (!absl::SimpleAtoi(v, &d) || d < 1) {
          return absl::DataLossError(absl::StrCat(path, ": bad shape line '", line, "'"));
        }
        e.shape.push_back(d);
      }
    } else if (absl::StartsWith(line, "head ")) {
      std::vector<std::string> fields = absl::StrSplit(line.substr(5), '\t');
      DataAttribute head{fields[0], std::vector<std::string>(fields.begin() + 1, fields.end())};
      e.heads.push_back(std::move(head));
    }
  }
  if (e.shape.size() != 3 || e.heads.empty()) {
    return absl::DataLossError(absl::StrCat(path, ": the description lacks its shape or heads"));
  }
  e.net = std::make_shared<ImageEvaluatorNetImpl>(e.shape, HeadSizes(e.heads));
  TrainingState weights;
  ABSL_RETURN_IF_ERROR(LoadCheckpoint(path, *e.net, nullptr, &weights));
  return e;
}

}  // namespace diffuse
