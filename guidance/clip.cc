// Guidance "clip": see ClipGuidanceOptions in clip.proto.
#include <memory>

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "forward/gaussian.h"
#include "guidance/clip.pb.h"
#include "guidance/guidance_term.h"
#include "guidance/step_size.h"
#include "models/prompts.h"
#include "models/text_image_model.h"
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class ClipGuidance : public GuidanceTerm {
 public:
  // prompts [P, D]; negative [1, D] or undefined.
  ClipGuidance(double scale, std::unique_ptr<TextImageModel> model, at::Tensor prompts,
               at::Tensor negative)
      : scale_(scale), model_(std::move(model)), prompts_(std::move(prompts)),
        negative_(std::move(negative)) {}

  absl::Status CheckCompatible(const ForwardProcess& forward,
                               const X0Predictor& predictor) const override {
    if (forward.gaussian() == nullptr) {
      return absl::FailedPreconditionError("needs a forward process with Gaussian coefficients");
    }
    if (forward.HasOffset()) {
      return absl::FailedPreconditionError("does not support offset forward processes (shifted)");
    }
    if (predictor.predicts_logits()) {
      return absl::FailedPreconditionError("needs real-valued predictions; these are token logits");
    }
    return CheckAlphaPositive(forward);
  }

  ConditionSupport conditions() const override {
    ConditionSupport support;
    support.prompts = true;
    return support;
  }

  // The similarity s(x) of each sample to its prompt (minus the negative prompt's).
  at::Tensor Similarity(const at::Tensor& image, const Time& t, const at::Tensor& prompt) {
    const at::Tensor e = model_->EmbedImages(image, t);
    at::Tensor similarity = (e * prompts_.index_select(0, prompt).to(e.scalar_type())).sum(1);
    if (negative_.defined()) similarity = similarity - e.matmul(negative_.to(e.scalar_type()).t()).squeeze(1);
    return similarity;
  }

  X0Prediction Guide(const GuidanceInput& in, X0Prediction x0_hat) override {
    if (scale_ == 0) return x0_hat;
    TORCH_CHECK(in.condition.prompt.defined(), "CLIP guidance needs prompts");
    TORCH_CHECK(in.t.is_shared(), "CLIP guidance runs at a shared time");
    at::Tensor grad;
    {
      at::AutoGradMode enable_grad(true);
      const at::Tensor x = in.x_t.detach().requires_grad_(true);
      const at::Tensor similarity =
          model_->noise_aware()
              ? Similarity(x, in.t, in.condition.prompt)
              : Similarity(in.predictor->Predict(x, in.t, in.condition).x0, Time(0.0),
                           in.condition.prompt);
      grad = torch::autograd::grad({similarity.sum()}, {x})[0].to(in.x_t.scalar_type());
    }
    const GaussianCoefficients& g = *in.forward->gaussian();
    const double sigma = g.Sigma(in.t.shared());
    return {torch::add(x0_hat.x0, grad, scale_ * sigma * sigma / g.Alpha(in.t.shared())),
            x0_hat.logits};
  }

 private:
  double scale_;
  std::unique_ptr<TextImageModel> model_;
  at::Tensor prompts_, negative_;
};

absl::StatusOr<std::unique_ptr<GuidanceTerm>> Make(const ClipGuidanceOptions& o,
                                                   const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("scale", o.scale(), 0, 1e6));
  if (o.checkpoint().empty()) return absl::InvalidArgumentError("option checkpoint is required");
  const SamplerOptions& s = context.config->sampler();
  if (s.prompts_size() == 0) {
    return absl::InvalidArgumentError(
        "steers toward sampler.prompts, which are unset (set them, or sample with --prompt)");
  }
  absl::StatusOr<std::unique_ptr<TextImageModel>> model =
      LoadTextImageModel(o.checkpoint(), context, /*images_here=*/true);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("option checkpoint: ", model.status().message()));
  }
  ABSL_ASSIGN_OR_RETURN(at::Tensor prompts,
                        EmbedPrompts((*model)->text_encoder(),
                                     {s.prompts().begin(), s.prompts().end()}, "sampler.prompts"));
  at::Tensor negative;
  if (s.has_negative_prompt()) {
    ABSL_ASSIGN_OR_RETURN(negative, EmbedPrompts((*model)->text_encoder(), {s.negative_prompt()},
                                                 "sampler.negative_prompt"));
  }
  return std::unique_ptr<GuidanceTerm>(
      new ClipGuidance(o.scale(), *std::move(model), std::move(prompts), std::move(negative)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(GuidanceTerm, "clip", ClipGuidanceOptions, Make);

}  // namespace diffuse
