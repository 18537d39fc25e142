// The "noisy_classifier" objective (Dhariwal & Nichol 2021, sec. 4.1): the cross-entropy
// -log p(y | x_t, t) of a classifier of noisy data, x_t = F_t(x0, eps) at t drawn as the
// diffusion loss draws it, so that its gradient can guide sampling at every t.
#include <memory>

#include <ATen/TensorOperators.h>

#include "absl/strings/str_cat.h"
#include "models/noisy_classifier.h"
#include "pipeline/registry.h"
#include "training/objective.h"
#include "training/objective_parts.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class NoisyClassifierObjective : public TrainingObjective {
 public:
  explicit NoisyClassifierObjective(const TrainingComponents& c) : c_(c) {}

  std::vector<std::string> TermNames() const override { return {"accuracy"}; }
  size_t StepTermCount() const override { return 1; }

  absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) override {
    const TrainingExample example =
        Corrupt(step, *c_.forward, c_.classifier->num_classes(), 0, nullptr);
    const at::Tensor log_p = c_.classifier->LogProbabilities(example.x_t, example.t);
    const at::Tensor y = example.condition.label.view({-1, 1});
    ObjectiveValue value;
    value.loss = -log_p.gather(1, y).mean();
    value.terms = {log_p.detach().argmax(1).eq(y.squeeze(1)).to(log_p.scalar_type()).mean()};
    return value;
  }

  void Report(const std::vector<double>& means, std::vector<std::string>* fields,
              std::string* line) const override {
    ReportAccuracy(means[0], fields, line);
  }

 private:
  const TrainingComponents c_;
};

absl::StatusOr<std::unique_ptr<TrainingObjective>> MakeNoisyClassifierObjective(
    const NoOptions&, const TrainingComponents& c) {
  const TrainingOptions& o = c.config->training();
  if (c.classifier == nullptr || c.forward == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the noisy classifier's cross-entropy needs classifier and forward sections (this is "
        "a ", DescriptionKindName(c.kind), " description)"));
  }
  ABSL_RETURN_IF_ERROR(RefuseLossWeighting(o, "a noisy classifier is trained by cross-entropy"));
  if (o.condition_dropout() != 0) {
    return absl::InvalidArgumentError(
        "training.condition_dropout: a noisy classifier learns every label, none is dropped");
  }
  if (o.latent_kl_weight() != 0 || o.has_info_diffusion()) {
    return absl::InvalidArgumentError(
        "training.latent_kl_weight, info_diffusion: a noisy classifier has no latent");
  }
  return std::make_unique<NoisyClassifierObjective>(c);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "noisy_classifier", NoOptions,
                           MakeNoisyClassifierObjective);

}  // namespace diffuse
