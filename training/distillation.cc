#include "training/distillation.h"

#include <map>
#include <utility>

#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/nn/module.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "forward/forward_process.h"
#include "models/x0_predictor.h"
#include "pipeline/build_context.h"
#include "pipeline/pipeline.pb.h"
#include "random/noise_source.h"
#include "reverse/reverse_conditional.h"
#include "util/status_macros.h"

namespace diffuse {

absl::StatusOr<std::unique_ptr<TrainedDescription>> LoadTeacher(const TrainingComponents& c,
                                                                 const std::string& checkpoint,
                                                                 const std::string& pipeline_file,
                                                                 const std::string& field) {
  auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat(field, ": ", s.message()));
  };
  if (c.trained == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(field, " needs a loader of trained descriptions (TrainingComponents)"));
  }
  if (checkpoint.empty() == pipeline_file.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": give exactly one of teacher (a checkpoint) and teacher_pipeline (the "
        "description file of an analytic teacher)"));
  }
  auto accept = [](const PipelineConfig& config) {
    if (config.has_predictor() && config.has_forward()) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "is not a diffusion description (it has no predictor or forward section)");
  };
  std::unique_ptr<TrainedDescription> teacher;
  const std::string& path = checkpoint.empty() ? pipeline_file : checkpoint;
  if (!checkpoint.empty()) {
    absl::StatusOr<std::unique_ptr<TrainedDescription>> loaded =
        c.trained->LoadCheckpoint(checkpoint, accept);
    if (!loaded.ok()) return fail(loaded.status());
    teacher = *std::move(loaded);
  } else {
    absl::StatusOr<PipelineConfig> config = c.trained->ReadDescriptionFile(pipeline_file);
    if (!config.ok()) return fail(config.status());
    if (absl::Status s = accept(*config); !s.ok()) {
      return fail(absl::Status(s.code(), absl::StrCat(pipeline_file, " ", s.message())));
    }
    absl::StatusOr<std::unique_ptr<TrainedDescription>> built = c.trained->Build(*config);
    if (!built.ok()) return fail(built.status());
    teacher = *std::move(built);
    if (teacher->trained_module() != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": ", pipeline_file, " has a network ('", config->predictor().name(),
          "'); give its trained checkpoint as teacher instead"));
    }
  }
  BuildContext context;
  context.config = c.config;
  context.data = c.data;
  context.forward = c.forward;
  context.predictor = c.predictor;
  context.trained = c.trained;
  if (absl::Status s = c.trained->CheckReadsThisDescription(path, "models", *teacher, context);
      !s.ok()) {
    return fail(s);
  }
  if (teacher->predictor()->conditions().num_classes > 0 &&
      !teacher->predictor()->conditions().null_label) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, ": ", path, " is class-conditional without a null label; distillation here is "
        "unconditional"));
  }
  if (torch::nn::Module* module = teacher->trained_module(); module != nullptr) {
    module->eval();
    for (at::Tensor& p : module->parameters()) p.requires_grad_(false);
  }
  return teacher;
}

absl::Status CheckUnconditionalStudent(const TrainingComponents& c, const std::string& what) {
  if (c.predictor == nullptr || c.forward == nullptr || c.prior == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " needs forward, predictor and prior sections (this is a ",
        DescriptionKindName(c.kind), " description)"));
  }
  if (c.predictor->trainable() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", c.config->predictor().name(), "' has no trainable network"));
  }
  const ConditionSupport reads = c.predictor->conditions();
  if (reads.num_classes > 0 || reads.latent_dim > 0 || reads.image_channels > 0 ||
      reads.context_dim > 0 || c.encoder != nullptr || c.text_encoder != nullptr ||
      c.forward->HasOffset() || c.predictor->predicts_logits()) {
    return absl::FailedPreconditionError(absl::StrCat(
        what, " is built here for unconditional real-valued predictors (no class, latent, "
        "image or text condition, no encoder, no offset, no tokens)"));
  }
  return absl::OkStatus();
}

absl::Status CopyWeights(torch::nn::Module& from, torch::nn::Module& to, const std::string& what) {
  auto copy = [&](const torch::OrderedDict<std::string, at::Tensor>& source,
                  const torch::OrderedDict<std::string, at::Tensor>& target) -> absl::Status {
    if (source.size() != target.size()) {
      return absl::FailedPreconditionError(absl::StrCat(what, " has ", source.size(),
                                                        " tensors where this network has ",
                                                        target.size()));
    }
    for (const auto& item : target) {
      const at::Tensor* s = source.find(item.key());
      if (s == nullptr || !s->sizes().equals(item.value().sizes())) {
        return absl::FailedPreconditionError(absl::StrCat(
            what, " has no tensor '", item.key(), "' of shape [",
            absl::StrJoin(item.value().sizes(), ", "), "] (another network or options)"));
      }
    }
    at::NoGradGuard no_grad;
    for (const auto& item : target) item.value().copy_(*source.find(item.key()));
    return absl::OkStatus();
  };
  ABSL_RETURN_IF_ERROR(copy(from.named_parameters(), to.named_parameters()));
  return copy(from.named_buffers(), to.named_buffers());
}

std::vector<at::Tensor> CloneParameters(torch::nn::Module& module) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> copies;
  for (const at::Tensor& p : module.parameters()) copies.push_back(p.detach().clone());
  return copies;
}

ScopedWeights::ScopedWeights(torch::nn::Module& module, const std::vector<at::Tensor>& weights)
    : params_(module.parameters()) {
  for (size_t i = 0; i < params_.size(); ++i) {
    own_.push_back(params_[i].data());
    params_[i].set_data(weights[i]);
  }
}

ScopedWeights::~ScopedWeights() {
  for (size_t i = 0; i < params_.size(); ++i) params_[i].set_data(own_[i]);
}

namespace {

// The noise of a step that must draw none: a draw is recorded and answered with zeros.
class NoNoise : public NoiseSource {
 public:
  at::Tensor Normal(at::IntArrayRef shape) override {
    drawn_ = true;
    return at::zeros(shape, at::kFloat);
  }
  at::Tensor Uniform(at::IntArrayRef shape) override {
    drawn_ = true;
    return at::zeros(shape, at::kFloat);
  }
  bool drawn() const { return drawn_; }

 private:
  bool drawn_ = false;
};

}  // namespace

absl::StatusOr<at::Tensor> SolverStepPerExample(ReverseConditional& solver,
                                                X0Predictor& predictor,
                                                const ForwardProcess& forward,
                                                const at::Tensor& x, const at::Tensor& from,
                                                const std::vector<double>& times,
                                                at::ScalarType predictor_dtype) {
  at::NoGradGuard no_grad;
  std::map<int64_t, std::vector<int64_t>> rows;  // interval -> examples
  const at::Tensor index = from.to(at::kLong).contiguous();
  for (int64_t i = 0; i < index.numel(); ++i) rows[index.data_ptr<int64_t>()[i]].push_back(i);
  const PredictFn predict = [&](const at::Tensor& u, double t) {
    return predictor.Predict(u, Time(t), Condition());
  };
  NoNoise noise;
  at::Tensor out = at::empty_like(x);
  for (const auto& [k, members] : rows) {
    const at::Tensor select = at::tensor(members, at::kLong);
    at::Tensor x_k = x.index_select(0, select).to(predictor_dtype);
    solver.Reset();
    ReverseStep step{&forward, times[k], times[k - 1], 0, 1, &noise, &predict};
    step.t = solver.Perturb(step, x_k);
    const X0Prediction x0_hat = predict(x_k, step.t);
    out.index_copy_(0, select, solver.Step(step, x_k, x0_hat).to(x.scalar_type()));
    if (noise.drawn()) {
      return absl::FailedPreconditionError(
          "training.objective.options.solver draws noise (churn, or eta > 0); the "
          "distillation's one-step estimator must be a deterministic ODE step");
    }
  }
  return out;
}

}  // namespace diffuse
