// Consistency distillation and consistency training (Song, Dhariwal, Chen & Sutskever 2023,
// Algs. 2 and 3), for every forward process whose x0-predictor has f(x, 0) = x: see
// training/consistency.proto.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/linspace.h>
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
#include "pipeline/build_context.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "reverse/reverse_conditional.h"
#include "training/consistency.h"
#include "training/consistency.pb.h"
#include "training/distillation.h"
#include "training/objective.h"
#include "training/objective_parts.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// The consistency objective; with a teacher (distillation) x_hat_{t_n} is one solver step
// of it, without (training) it is F_{t_n}(x0, eps).
class ConsistencyObjective : public TrainingObjective {
 public:
  ConsistencyObjective(const TrainingComponents& c, ConsistencyTrainingOptions schedule,
                       std::optional<ConsistencyDistillationOptions> distillation)
      : c_(c),
        o_(schedule.consistency()),
        schedule_(std::move(schedule)),
        distillation_(std::move(distillation)),
        module_(c.predictor->trainable()->module()) {}

  std::vector<std::string> TermNames() const override { return {"num_scales"}; }
  size_t StepTermCount() const override { return 1; }
  bool reads_trained_prior() const override { return distillation_.has_value(); }

  absl::Status Prepare() override {
    if (!distillation_) return absl::OkStatus();
    const std::string field = "training.objective.options.teacher";
    ABSL_ASSIGN_OR_RETURN(teacher_, LoadTeacher(c_, distillation_->teacher(),
                                                distillation_->teacher_pipeline(), field));
    // A network teacher runs in its stored dtype; an analytic one in the training dtype.
    teacher_dtype_ = c_.config->training().dtype() == FLOAT64 ? at::kDouble : at::kFloat;
    if (torch::nn::Module* module = teacher_->trained_module();
        module != nullptr && !module->parameters().empty()) {
      teacher_dtype_ = module->parameters()[0].scalar_type();
    }
    ComponentSpec spec = distillation_->solver();
    if (spec.name().empty()) spec.set_name("heun");
    BuildContext context;
    context.config = c_.config;
    context.data = c_.data;
    context.forward = c_.forward;
    context.predictor = teacher_->predictor();
    context.trained = c_.trained;
    ABSL_ASSIGN_OR_RETURN(solver_, Registry<ReverseConditional>::Global().Create(
                                       spec, "training.objective.options.solver", context));
    if (absl::Status s = solver_->CheckCompatible(*c_.forward); !s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "training.objective.options.solver '", spec.name(), "' ", s.message()));
    }
    if (distillation_->initialize_from_teacher()) {
      if (teacher_->trained_module() == nullptr ||
          teacher_->config().predictor().SerializeAsString() !=
              c_.config->predictor().SerializeAsString()) {
        return absl::FailedPreconditionError(
            "training.objective.options.initialize_from_teacher needs a teacher checkpoint "
            "whose predictor section equals this description's");
      }
    }
    return absl::OkStatus();
  }

  absl::Status InitializeWeights() override {
    if (distillation_ && distillation_->initialize_from_teacher()) {
      ABSL_RETURN_IF_ERROR(CopyWeights(*teacher_->trained_module(), module_,
                                       "teacher " + distillation_->teacher()));
    }
    if (KeepsTarget()) target_ = CloneParameters(module_);
    return absl::OkStatus();
  }

  std::map<std::string, at::Tensor> State() const override {
    std::map<std::string, at::Tensor> state;
    const auto params = module_.named_parameters();
    for (size_t i = 0; i < target_.size(); ++i) state["target/" + params[i].key()] = target_[i];
    return state;
  }

  absl::Status RestoreState(const std::map<std::string, at::Tensor>& state) override {
    target_.clear();
    if (!KeepsTarget()) return TrainingObjective::RestoreState(state);
    for (const auto& item : module_.named_parameters()) {
      const auto it = state.find("target/" + item.key());
      if (it == state.end() || !it->second.sizes().equals(item.value().sizes())) {
        return absl::DataLossError(absl::StrCat("the target network's '", item.key(),
                                                "' is missing or of another shape"));
      }
      target_.push_back(it->second.to(item.value().scalar_type()));
    }
    if (state.size() != target_.size()) {
      return absl::DataLossError("the checkpoint holds objective state this run does not keep");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) override {
    const int64_t total = c_.config->training().steps();
    if (step.step > 0 && !target_.empty()) {
      // theta- <- mu theta- + (1 - mu) theta after the previous optimizer step (CM Alg. 2).
      const double mu = ConsistencyScheduleAt(schedule_, step.step - 1, total).target_ema;
      at::NoGradGuard no_grad;
      const std::vector<at::Tensor> params = module_.parameters();
      for (size_t i = 0; i < params.size(); ++i) target_[i].mul_(mu).add_(params[i], 1 - mu);
    }
    const ConsistencySchedule now = ConsistencyScheduleAt(schedule_, step.step, total);
    ABSL_ASSIGN_OR_RETURN(const std::vector<double>* times, Times(now.num_scales));
    const int64_t batch = step.data->x.size(0);
    // Draws: the interval n of each example, then eps (whole batch; this rank keeps its part).
    const at::Tensor n =
        step.Shard(at::randint(0, now.num_scales - 1, {batch}, *step.generator));
    at::Tensor eps = c_.forward->SampleNoise(step.data->x.sizes(), *step.noise);
    if (at::isFloatingType(eps.scalar_type())) eps = eps.to(step.dtype);
    eps = step.Shard(eps);
    const at::Tensor grid = at::tensor(*times, at::kDouble);
    const at::Tensor t_hi = grid.index_select(0, n + 1), t_lo = grid.index_select(0, n);
    const at::Tensor x_hi = c_.forward->Apply(step.x0, Time(t_hi), eps);
    const at::Tensor f = c_.predictor->Predict(x_hi, Time(t_hi), Condition()).x0;
    at::Tensor target;
    {
      at::NoGradGuard no_grad;
      at::Tensor x_lo;
      if (teacher_ != nullptr) {
        ABSL_ASSIGN_OR_RETURN(x_lo, SolverStepPerExample(*solver_, *teacher_->predictor(),
                                                         *c_.forward, x_hi, n + 1, *times,
                                                         teacher_dtype_));
      } else {
        x_lo = c_.forward->Apply(step.x0, Time(t_lo), eps);
      }
      std::optional<ScopedWeights> target_weights;
      if (!target_.empty() && now.target_ema > 0) target_weights.emplace(module_, target_);
      target = c_.predictor->Predict(x_lo, Time(t_lo), Condition()).x0.detach();
    }
    at::Tensor per_example = ConsistencyDistance(o_, f, target);
    if (o_.weighting() == ConsistencyOptions::INVERSE_INTERVAL) {
      const GaussianCoefficients& g = *c_.forward->gaussian();
      const at::Tensor scaled_hi = SigmaTensor(g, Time(t_hi)) / AlphaTensor(g, Time(t_hi));
      const at::Tensor scaled_lo = SigmaTensor(g, Time(t_lo)) / AlphaTensor(g, Time(t_lo));
      per_example = per_example * (1 / (scaled_hi - scaled_lo)).to(per_example.scalar_type());
    }
    ObjectiveValue value;
    value.loss = per_example.mean();
    value.terms = {at::scalar_tensor(static_cast<double>(now.num_scales), at::kDouble)};
    return value;
  }

  void Report(const std::vector<double>& means, std::vector<std::string>* fields,
              std::string* line) const override {
    fields->push_back(absl::StrFormat("%.2f", means[0]));
    *line = absl::StrFormat(" (%s, N %.0f)", distillation_ ? "distillation" : "training",
                            means[0]);
  }

  // The times for N scales (computed once per N).
  absl::StatusOr<const std::vector<double>*> Times(int num_scales) {
    auto it = times_.find(num_scales);
    if (it == times_.end()) {
      ABSL_ASSIGN_OR_RETURN(std::vector<double> times,
                            ConsistencyTimes(o_, num_scales, *c_.forward));
      it = times_.emplace(num_scales, std::move(times)).first;
    }
    return &it->second;
  }

 private:
  // Whether theta- differs from theta at some step (mu > 0).
  bool KeepsTarget() const {
    return o_.target_ema() > 0 ||
           (schedule_.final_num_scales() > o_.num_scales() && schedule_.initial_target_ema() > 0);
  }

  const TrainingComponents c_;
  const ConsistencyOptions o_;
  const ConsistencyTrainingOptions schedule_;
  const std::optional<ConsistencyDistillationOptions> distillation_;
  torch::nn::Module& module_;
  std::unique_ptr<TrainedDescription> teacher_;
  std::unique_ptr<ReverseConditional> solver_;
  at::ScalarType teacher_dtype_ = at::kFloat;
  std::vector<at::Tensor> target_;  // theta-, in parameters() order; empty when mu = 0
  std::map<int, std::vector<double>> times_;
};

// What both objectives check once: the description, the options, and that the predictor
// is a consistency function (f(x, 0) = x).
absl::Status CheckConsistency(const ConsistencyOptions& o, int max_scales,
                              const TrainingComponents& c) {
  const PipelineConfig& config = *c.config;
  ABSL_RETURN_IF_ERROR(CheckUnconditionalStudent(c, "a consistency model"));
  const TrainingOptions& t = config.training();
  ABSL_RETURN_IF_ERROR(RefuseLossWeighting(t, "the consistency loss weights by consistency.weighting"));
  if (t.condition_dropout() > 0 || t.latent_kl_weight() > 0 || t.has_info_diffusion()) {
    return absl::InvalidArgumentError(
        "training.condition_dropout, latent_kl_weight and info_diffusion do not apply to a "
        "consistency objective");
  }
  ABSL_RETURN_IF_ERROR(CheckInRange("consistency.num_scales", o.num_scales(), 2, 10000));
  ABSL_RETURN_IF_ERROR(CheckInRange("consistency.rho", o.rho(), 1, 100));
  ABSL_RETURN_IF_ERROR(CheckInRange("consistency.target_ema", o.target_ema(), 0, 0.999999));
  ABSL_RETURN_IF_ERROR(CheckInRange("consistency.huber_c", o.huber_c(), 0, 100));
  if ((o.spacing() == ConsistencyOptions::KARRAS ||
       o.weighting() == ConsistencyOptions::INVERSE_INTERVAL) &&
      c.forward->gaussian() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "consistency.spacing KARRAS and weighting INVERSE_INTERVAL need Gaussian coefficients; "
        "forward '", config.forward().name(), "' has none (spacing UNIFORM)"));
  }
  for (int n : {o.num_scales(), max_scales}) {
    ABSL_RETURN_IF_ERROR(ConsistencyTimes(o, n, *c.forward).status());
  }
  // The boundary condition, on a fixed probe of the data's shape.
  std::vector<int64_t> shape = {2};
  for (int64_t d : c.data->sample_shape()) shape.push_back(d);
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  const at::Tensor x = at::linspace(-1, 1, numel).view(shape);
  at::NoGradGuard no_grad;
  const double off = (c.predictor->Predict(x, Time(0.0), Condition()).x0 - x)
                         .abs()
                         .max()
                         .item<double>();
  if (!(off <= 1e-5)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", config.predictor().name(), "' is not a consistency function: its x0 "
        "estimate at t = 0 differs from x by ", off, " (f(x, 0) = x needs parameterization "
        "EDM, EPS or V, whose scalings build the boundary condition in)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TrainingObjective>> MakeDistillation(
    const ConsistencyDistillationOptions& o, const TrainingComponents& c) {
  ABSL_RETURN_IF_ERROR(CheckConsistency(o.consistency(), o.consistency().num_scales(), c));
  if (o.teacher().empty() == o.teacher_pipeline().empty()) {
    return absl::InvalidArgumentError(
        "give exactly one of option teacher (a checkpoint) and teacher_pipeline (the "
        "description file of an analytic teacher)");
  }
  ConsistencyTrainingOptions schedule;
  *schedule.mutable_consistency() = o.consistency();
  return std::unique_ptr<TrainingObjective>(new ConsistencyObjective(c, schedule, o));
}

absl::StatusOr<std::unique_ptr<TrainingObjective>> MakeTraining(
    const ConsistencyTrainingOptions& o, const TrainingComponents& c) {
  ABSL_RETURN_IF_ERROR(CheckInRange("final_num_scales", o.final_num_scales(), 0, 10000));
  ABSL_RETURN_IF_ERROR(CheckInRange("initial_target_ema", o.initial_target_ema(), 0, 0.999999));
  ABSL_RETURN_IF_ERROR(CheckConsistency(
      o.consistency(), std::max(o.consistency().num_scales(), o.final_num_scales() + 1), c));
  return std::unique_ptr<TrainingObjective>(new ConsistencyObjective(c, o, std::nullopt));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "consistency_distillation",
                           ConsistencyDistillationOptions, MakeDistillation);
DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "consistency_training", ConsistencyTrainingOptions,
                           MakeTraining);

}  // namespace diffuse
