// Guidance "classifier" (Dhariwal & Nichol 2021, Algorithm 2 in eps form).
#include <memory>

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/types.h>

#include "guidance/classifier.pb.h"
#include "guidance/guidance_term.h"
#include "guidance/step_size.h"
#include "models/noisy_classifier.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class ClassifierGuidance : public GuidanceTerm {
 public:
  ClassifierGuidance(double scale, std::unique_ptr<NoisyClassifier> classifier)
      : scale_(scale), classifier_(std::move(classifier)) {}

  absl::Status CheckCompatible(const ForwardProcess& forward,
                               const X0Predictor&) const override {
    if (forward.gaussian() == nullptr) {
      return absl::FailedPreconditionError("needs a forward process with Gaussian coefficients");
    }
    if (forward.HasOffset()) {
      return absl::FailedPreconditionError("does not support offset forward processes (shifted)");
    }
    return CheckAlphaPositive(forward);
  }

  ConditionSupport conditions() const override {
    ConditionSupport support;
    support.num_classes = classifier_->num_classes();
    return support;
  }

  X0Prediction Guide(const GuidanceInput& in, X0Prediction x0_hat) override {
    TORCH_CHECK(in.condition.label.defined(), "classifier guidance needs labels");
    TORCH_CHECK(in.t.is_shared(), "classifier guidance runs at a shared time");
    at::Tensor grad;
    {
      at::AutoGradMode enable_grad(true);
      at::Tensor x = in.x_t.detach().requires_grad_(true);
      at::Tensor log_prob = classifier_->LogProb(x, in.t, in.condition.label).sum();
      grad = torch::autograd::grad({log_prob}, {x})[0].to(in.x_t.scalar_type());
    }
    const GaussianCoefficients& g = *in.forward->gaussian();
    const double sigma = g.Sigma(in.t.shared());
    const double alpha = g.Alpha(in.t.shared());
    return {torch::add(x0_hat.x0, grad, scale_ * sigma * sigma / alpha), x0_hat.logits};
  }

 private:
  double scale_;
  std::unique_ptr<NoisyClassifier> classifier_;
};

absl::StatusOr<std::unique_ptr<GuidanceTerm>> Make(const ClassifierGuidanceOptions& options,
                                                   const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("scale", options.scale(), 0, 1000));
  if (!options.has_classifier()) {
    return absl::InvalidArgumentError("option classifier is required");
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<NoisyClassifier> classifier,
                        Registry<NoisyClassifier>::Global().Create(
                            options.classifier(), "options.classifier", context));
  return std::unique_ptr<GuidanceTerm>(
      new ClassifierGuidance(options.scale(), std::move(classifier)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(GuidanceTerm, "classifier", ClassifierGuidanceOptions, Make);

}  // namespace diffuse
