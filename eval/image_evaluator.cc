#include "eval/image_evaluator.h"


#include <ATen/core/grad_mode.h>
#include <torch/nn/functional/loss.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "eval/epoch_training.h"
#include "training/checkpoint.h"
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

// The whole batch translated by (dy, dx) in [-2, 2], edges replicated.
at::Tensor Shift(const at::Tensor& x, int64_t dy, int64_t dx) {
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
  at::manual_seed(o.seed);
  auto model = std::make_shared<ImageEvaluatorNetImpl>(shape, HeadSizes(heads));
  EpochTraining training;
  training.what = "evaluator";
  training.dir = dir;
  training.file = "evaluator.pt";
  training.description = Describe(shape, heads, o);
  training.examples = all.x.size(0);
  training.epochs = o.epochs;
  training.batch_size = o.batch_size;
  training.log_every = o.log_every;
  training.learning_rate = o.learning_rate;
  training.seed = o.seed;
  at::Tensor shifts;  // [batches, 2]: each batch's translation
  ABSL_ASSIGN_OR_RETURN(
      const EpochTrainingResult trained,
      TrainEpochs(
          training, *model,
          [&](at::Generator& gen) {
            const int64_t batches = (training.examples + o.batch_size - 1) / o.batch_size;
            shifts = torch::randint(-2, 3, {batches, 2}, gen, torch::kLong);
          },
          [&](const at::Tensor& index, int64_t batch) {
            const at::Tensor x = Shift(all.x.index_select(0, index), shifts[batch][0].item<int64_t>(),
                                       shifts[batch][1].item<int64_t>());
            return HeadLoss(model->Logits(model->Features(x)), all.attributes.index_select(0, index));
          },
          progress));
  EvaluatorReport report;
  report.steps = trained.steps;
  report.seconds = trained.seconds;
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
        path, " is not an image evaluator checkpoint (its description begins '",
        lines.empty() ? std::string() : lines[0].substr(0, 60), "')"));
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
