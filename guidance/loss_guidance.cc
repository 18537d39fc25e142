// Guidance "loss": see LossGuidanceOptions in loss_guidance.proto.
#include <memory>

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "forward/gaussian.h"
#include "guidance/guidance_loss.h"
#include "guidance/loss_guidance.pb.h"
#include "guidance/guidance_term.h"
#include "guidance/step_size.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class LossGuidance : public GuidanceTerm {
 public:
  LossGuidance(const LossGuidanceOptions& options, std::unique_ptr<GuidanceLoss> loss)
      : scale_(options.scale()),
        through_predictor_(options.gradient() == LossGuidanceOptions::THROUGH_PREDICTOR),
        loss_(std::move(loss)) {}

  absl::Status CheckCompatible(const ForwardProcess& forward,
                               const X0Predictor& predictor) const override {
    if (predictor.predicts_logits()) {
      return absl::FailedPreconditionError("needs real-valued predictions; these are token logits");
    }
    if (!through_predictor_) return absl::OkStatus();
    if (forward.gaussian() == nullptr) {
      return absl::FailedPreconditionError(
          "gradient THROUGH_PREDICTOR needs a forward process with Gaussian coefficients "
          "(X0_ONLY does not)");
    }
    if (forward.HasOffset()) {
      return absl::FailedPreconditionError(
          "gradient THROUGH_PREDICTOR does not support offset forward processes (shifted)");
    }
    return CheckAlphaPositive(forward);
  }

  ConditionSupport conditions() const override { return loss_->conditions(); }

  X0Prediction Guide(const GuidanceInput& in, X0Prediction x0_hat) override {
    TORCH_CHECK(in.t.is_shared(), "loss guidance runs at a shared time");
    at::Tensor grad;
    {
      at::AutoGradMode enable_grad(true);
      if (through_predictor_) {
        const at::Tensor x = in.x_t.detach().requires_grad_(true);
        const at::Tensor x0 = in.predictor->Predict(x, in.t, in.condition).x0;
        const at::Tensor loss = loss_->Loss(x0, in).sum();
        grad = torch::autograd::grad({loss}, {x})[0];
      } else {
        const at::Tensor x0 = x0_hat.x0.detach().requires_grad_(true);
        const at::Tensor loss = loss_->Loss(x0, in).sum();
        grad = torch::autograd::grad({loss}, {x0})[0];
      }
    }
    double step = scale_;
    if (through_predictor_) {
      const GaussianCoefficients& g = *in.forward->gaussian();
      const double sigma = g.Sigma(in.t.shared());
      step *= sigma * sigma / g.Alpha(in.t.shared());
    }
    return {torch::sub(x0_hat.x0, grad.to(x0_hat.x0.scalar_type()), step), x0_hat.logits};
  }

 private:
  double scale_;
  bool through_predictor_;
  std::unique_ptr<GuidanceLoss> loss_;
};

absl::StatusOr<std::unique_ptr<GuidanceTerm>> Make(const LossGuidanceOptions& options,
                                                   const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("scale", options.scale(), 0, 1e6));
  if (!options.has_loss()) return absl::InvalidArgumentError("option loss is required");
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<GuidanceLoss> loss,
                        Registry<GuidanceLoss>::Global().Create(options.loss(), "options.loss",
                                                                context));
  return std::unique_ptr<GuidanceTerm>(new LossGuidance(options, std::move(loss)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(GuidanceTerm, "loss", LossGuidanceOptions, Make);

}  // namespace diffuse
