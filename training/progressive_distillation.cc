// Progressive distillation (Salimans & Ho 2022, Alg. 2): see
// training/progressive_distillation.proto.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/tensor.h>
#include <torch/nn/module.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/dataset.h"
#include "forward/forward_process.h"
#include "forward/gaussian.h"
#include "models/trainable_model.h"
#include "models/x0_predictor.h"
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "reverse/time_grid.h"
#include "training/distillation.h"
#include "training/objective.h"
#include "training/objective_parts.h"
#include "training/progressive_distillation.pb.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class ProgressiveDistillation : public TrainingObjective {
 public:
  ProgressiveDistillation(const TrainingComponents& c, const ProgressiveDistillationOptions& o,
                          int rounds)
      : c_(c),
        o_(o),
        rounds_(rounds),
        model_(*c.predictor->trainable()),
        module_(model_.module()),
        g_(*c.forward->gaussian()) {}

  std::vector<std::string> TermNames() const override { return {"student_steps"}; }
  size_t StepTermCount() const override { return 1; }
  bool reads_trained_prior() const override { return true; }

  absl::Status Prepare() override {
    ABSL_ASSIGN_OR_RETURN(teacher_, LoadTeacher(c_, o_.teacher(), "",
                                                "training.objective.options.teacher"));
    if (teacher_->config().predictor().SerializeAsString() !=
        c_.config->predictor().SerializeAsString()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "training.objective.options.teacher: checkpoint ", o_.teacher(),
          " has another predictor section; the student starts as the teacher, so they must "
          "be equal"));
    }
    return absl::OkStatus();
  }

  absl::Status InitializeWeights() override {
    ABSL_RETURN_IF_ERROR(
        CopyWeights(*teacher_->trained_module(), module_, "teacher " + o_.teacher()));
    teacher_weights_ = CloneParameters(module_);
    round_ = 0;
    return absl::OkStatus();
  }

  std::map<std::string, at::Tensor> State() const override {
    std::map<std::string, at::Tensor> state;
    const auto params = module_.named_parameters();
    for (size_t i = 0; i < teacher_weights_.size(); ++i) {
      state["teacher/" + params[i].key()] = teacher_weights_[i];
    }
    state["round"] = at::scalar_tensor(static_cast<int64_t>(round_), at::kLong);
    return state;
  }

  absl::Status RestoreState(const std::map<std::string, at::Tensor>& state) override {
    teacher_weights_.clear();
    for (const auto& item : module_.named_parameters()) {
      const auto it = state.find("teacher/" + item.key());
      if (it == state.end() || !it->second.sizes().equals(item.value().sizes())) {
        return absl::DataLossError(absl::StrCat("the current teacher's '", item.key(),
                                                "' is missing or of another shape"));
      }
      teacher_weights_.push_back(it->second.to(item.value().scalar_type()));
    }
    const auto round = state.find("round");
    if (round == state.end() || round->second.numel() != 1 ||
        state.size() != teacher_weights_.size() + 1) {
      return absl::DataLossError("the distillation round is missing or the state has extra entries");
    }
    round_ = round->second.item<int64_t>();
    return absl::OkStatus();
  }

  absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) override {
    const int64_t per_round = c_.config->training().steps() / rounds_;
    const int round = static_cast<int>(std::min<int64_t>(step.step / per_round, rounds_ - 1));
    if (round != round_) {  // the student of the round before is the next teacher
      teacher_weights_ = CloneParameters(module_);
      round_ = round;
    }
    const int steps = o_.teacher_steps() >> (round + 1);
    ABSL_ASSIGN_OR_RETURN(const std::vector<double> coarse,
                          MakeTimeGrid(TRAILING, steps, 0, c_.forward->time_domain()));
    ABSL_ASSIGN_OR_RETURN(const std::vector<double> fine,
                          MakeTimeGrid(TRAILING, 2 * steps, 0, c_.forward->time_domain()));
    std::vector<double> t_next(coarse.begin() + 1, coarse.end()), t_mid;
    t_next.push_back(0.0);
    for (int i = 0; i < steps; ++i) t_mid.push_back(fine[2 * i + 1]);
    const int64_t batch = step.data->x.size(0);
    const at::Tensor i = step.Shard(at::randint(0, steps, {batch}, *step.generator));
    at::Tensor eps = c_.forward->SampleNoise(step.data->x.sizes(), *step.noise).to(step.dtype);
    eps = step.Shard(eps);
    auto at_index = [&](const std::vector<double>& grid) {
      return Time(at::tensor(grid, at::kDouble).index_select(0, i));
    };
    const Time t = at_index(coarse), t1 = at_index(t_mid), t2 = at_index(t_next);
    auto coef = [&](const Time& time) {
      return std::make_pair(BroadcastPerSample(AlphaTensor(g_, time), step.x0),
                            BroadcastPerSample(SigmaTensor(g_, time), step.x0));
    };
    const auto [a, s] = coef(t);
    const auto [a1, s1] = coef(t1);
    const auto [a2, s2] = coef(t2);
    const at::Tensor z = a * step.x0 + s * eps;
    at::Tensor x_tilde;
    {
      at::NoGradGuard no_grad;
      ScopedWeights teacher(module_, teacher_weights_);
      const at::Tensor x0_a = c_.predictor->Predict(z, t, Condition()).x0;
      const at::Tensor z1 = a1 * x0_a + s1 / s * (z - a * x0_a);
      const at::Tensor x0_b = c_.predictor->Predict(z1, t1, Condition()).x0;
      const at::Tensor z2 = a2 * x0_b + s2 / s1 * (z1 - a1 * x0_b);
      x_tilde = (z2 - s2 / s * z) / (a2 - s2 / s * a);
    }
    TrainingExample example;
    example.x0 = x_tilde;
    example.eps = (z - a * x_tilde) / s;
    example.x_t = z;
    example.t = t;
    ObjectiveValue value;
    value.loss = model_.Loss(example).mean();
    value.terms = {at::scalar_tensor(static_cast<double>(steps), at::kDouble)};
    return value;
  }

  void Report(const std::vector<double>& means, std::vector<std::string>* fields,
              std::string* line) const override {
    fields->push_back(absl::StrFormat("%.0f", means[0]));
    *line = absl::StrFormat(" (student of %.0f steps)", means[0]);
  }

 private:
  const TrainingComponents c_;
  const ProgressiveDistillationOptions o_;
  const int rounds_;
  TrainableModel& model_;
  torch::nn::Module& module_;
  const GaussianCoefficients& g_;
  std::unique_ptr<TrainedDescription> teacher_;
  std::vector<at::Tensor> teacher_weights_;  // this round's teacher, parameters() order
  int round_ = 0;
};

absl::StatusOr<std::unique_ptr<TrainingObjective>> Make(const ProgressiveDistillationOptions& o,
                                                        const TrainingComponents& c) {
  const PipelineConfig& config = *c.config;
  ABSL_RETURN_IF_ERROR(CheckUnconditionalStudent(c, "progressive distillation"));
  if (c.forward->gaussian() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "progressive distillation takes DDIM steps, which need Gaussian coefficients; forward '",
        config.forward().name(), "' has none"));
  }
  ABSL_RETURN_IF_ERROR(RefuseLossWeighting(config.training(),
                                           "progressive distillation uses the parameterization's own loss"));
  if (o.teacher().empty()) return absl::InvalidArgumentError("option teacher is required");
  ABSL_RETURN_IF_ERROR(CheckInRange("teacher_steps", o.teacher_steps(), 2, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("final_steps", o.final_steps(), 1, 2048));
  int rounds = 0;
  for (int n = o.teacher_steps(); n > o.final_steps() && n % 2 == 0; n /= 2) ++rounds;
  if (rounds == 0 || (o.teacher_steps() >> rounds) != o.final_steps()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option teacher_steps / final_steps = ", o.teacher_steps(), " / ", o.final_steps(),
        " must be a power of two > 1"));
  }
  if (config.training().steps() < rounds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.steps = ", config.training().steps(), " is fewer than the ", rounds, " rounds"));
  }
  // Every round's grids must be N distinct times (discrete time: N <= T).
  ABSL_RETURN_IF_ERROR(
      MakeTimeGrid(TRAILING, o.teacher_steps(), 0, c.forward->time_domain()).status());
  return std::unique_ptr<TrainingObjective>(new ProgressiveDistillation(c, o, rounds));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "progressive_distillation",
                           ProgressiveDistillationOptions, Make);

}  // namespace diffuse
