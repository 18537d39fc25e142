// Guidance "classifier_free" (Ho & Salimans 2022), with optional guidance rescale.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>
#include <ATen/ops/full_like.h>

#include "forward/gaussian.h"
#include "guidance/classifier_free.pb.h"
#include "guidance/guidance_term.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// Per-sample std over all but the batch dimension, shaped to broadcast against x.
at::Tensor SampleStd(const at::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  return x.flatten(1).std(1, /*unbiased=*/true).view(shape);
}

class ClassifierFree : public GuidanceTerm {
 public:
  // text: the predictor is conditioned on prompt embeddings (a text_encoder section); the
  // negative condition is then the negative prompt's embedding, or the null (zero) one.
  ClassifierFree(const ClassifierFreeGuidanceOptions& options, bool text)
      : options_(options), text_(text) {}

  absl::Status CheckCompatible(const ForwardProcess& forward,
                               const X0Predictor& predictor) const override {
    const ConditionSupport support = predictor.conditions();
    if (text_) {
      if (options_.has_negative_label()) {
        return absl::InvalidArgumentError(
            "option negative_label: this predictor is conditioned on text; its negative "
            "condition is sampler.negative_prompt (or --negative_prompt)");
      }
      return CheckRescale(forward);
    }
    if (support.num_classes == 0) {
      return absl::FailedPreconditionError(
          "needs a class-conditional predictor, or one conditioned on text (a text_encoder "
          "section)");
    }
    const int neg = options_.negative_label();
    if (neg == Condition::kNullLabel && !support.null_label) {
      return absl::FailedPreconditionError(
          "negative_label -1 needs a predictor that accepts the null label (train with "
          "training.condition_dropout > 0)");
    }
    if (neg != Condition::kNullLabel && (neg < 0 || neg >= support.num_classes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option negative_label = ", neg, " is not a class in [0, ", support.num_classes, ")"));
    }
    if (forward.data_kind() == DataKind::kTokens && !predictor.predicts_logits()) {
      return absl::FailedPreconditionError("token data needs a predictor of logits");
    }
    return CheckRescale(forward);
  }

  X0Prediction Guide(const GuidanceInput& in, X0Prediction x0_hat) override {
    if (options_.scale() == 0 && options_.rescale() == 0) return x0_hat;  // w = 0: x0(c)
    Condition negative = in.condition;
    if (text_) {
      TORCH_CHECK(in.condition.negative_latent.defined() ||
                      in.condition.negative_context.defined(),
                  "classifier-free guidance on text needs the negative latent or context");
      negative.latent = in.condition.negative_latent;
      negative.context = in.condition.negative_context;
      negative.context_mask = in.condition.negative_context_mask;
    } else {
      TORCH_CHECK(in.condition.label.defined(), "classifier-free guidance needs labels");
      negative.label = at::full_like(in.condition.label, options_.negative_label());
    }
    const X0Prediction neg = in.predictor->Predict(in.x_t, in.t, negative);
    const double w = options_.scale();
    if (x0_hat.logits.defined()) {
      // Token data: guide the log-probabilities, (1 + w) log p(x0 | c) - w log p(x0 | c_neg).
      at::Tensor logits = at::add(x0_hat.logits * (1 + w), neg.logits, -w);
      return {logits.argmax(-1), std::move(logits)};
    }
    const at::Tensor& x0_neg = neg.x0;
    at::Tensor guided = at::add(x0_hat.x0 * (1 + w), x0_neg, -w);
    if (options_.rescale() > 0) guided = Rescale(in, x0_hat.x0, guided);
    return {guided, x0_hat.logits};
  }

 private:
  absl::Status CheckRescale(const ForwardProcess& forward) const {
    if (options_.rescale() > 0 && (forward.gaussian() == nullptr || forward.HasOffset())) {
      return absl::FailedPreconditionError(
          "rescale > 0 needs Gaussian coefficients and no offset (shifted)");
    }
    return absl::OkStatus();
  }

  // Lin et al. eq. 15-16 in eps space: eps_r = eps_cfg * std(eps_pos) / std(eps_cfg),
  // eps = phi eps_r + (1 - phi) eps_cfg; then back to x0 at the same x_t.
  at::Tensor Rescale(const GuidanceInput& in, const at::Tensor& x0_pos,
                     const at::Tensor& x0_cfg) const {
    const GaussianCoefficients& g = *in.forward->gaussian();
    const at::Tensor eps_pos = GaussianInvertNoise(g, x0_pos, in.x_t, in.t);
    const at::Tensor eps_cfg = GaussianInvertNoise(g, x0_cfg, in.x_t, in.t);
    const double phi = options_.rescale();
    const at::Tensor eps = phi * eps_cfg * (SampleStd(eps_pos) / SampleStd(eps_cfg)) +
                           (1 - phi) * eps_cfg;
    return (in.x_t - eps * g.Sigma(in.t.shared())) / g.Alpha(in.t.shared());
  }

  ClassifierFreeGuidanceOptions options_;
  bool text_;
};

absl::StatusOr<std::unique_ptr<GuidanceTerm>> Make(const ClassifierFreeGuidanceOptions& options,
                                                   const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("scale", options.scale(), -1, 100));
  ABSL_RETURN_IF_ERROR(CheckInRange("rescale", options.rescale(), 0, 1));
  const bool text = context.config != nullptr && context.config->has_text_encoder();
  // On text the null condition (the zero embedding, the empty prompt's states) is what only
  // condition dropout trains.
  if (text && options.scale() != 0 && !context.config->sampler().has_negative_prompt() &&
      !(context.config->training().condition_dropout() > 0)) {
    return absl::FailedPreconditionError(
        "guides a text-conditioned predictor away from the null (zero) embedding, which "
        "only training.condition_dropout > 0 trains; set it, or give sampler.negative_prompt");
  }
  return std::unique_ptr<GuidanceTerm>(new ClassifierFree(options, text));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(GuidanceTerm, "classifier_free", ClassifierFreeGuidanceOptions,
                           Make);

}  // namespace diffuse
