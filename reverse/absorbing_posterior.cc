// Reverse "absorbing_posterior": the exact q(x_s | x_t, x0) of a masking process
// (absorbing_posterior.h), with x0 = x0_hat for the entries it unmasks.
#include "reverse/absorbing_posterior.h"

#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/softmax.h>
#include <ATen/ops/where.h>

#include "forward/categorical.h"
#include "pipeline/registry.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {

double AbsorbingUnmaskProbability(double keep_t, double keep_s) {
  if (keep_t >= 1) return 0.0;  // nothing is masked at t
  return (keep_s - keep_t) / (1 - keep_t);
}

namespace {

class AbsorbingPosterior : public ReverseConditional {
 public:
  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    if (forward.absorbing() == nullptr) {
      return absl::FailedPreconditionError(
          "needs an absorbing-state forward process (random masking)");
    }
    return absl::OkStatus();
  }
  at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                  const X0Prediction& x0_hat) override {
    const AbsorbingCoefficients& a = *step.forward->absorbing();
    const double p = AbsorbingUnmaskProbability(a.Keep(step.t), a.Keep(step.t_prev));
    const at::Tensor unmask =
        x_t.eq(a.MaskValue()) & step.noise->Uniform(x_t.sizes()).lt(p);
    // Tokens: x0 ~ softmax(logits) for the entries it unmasks (x0_hat ~ q(x0 | x_t)); an
    // argmax would collapse every unmasked token onto the mode.
    const at::Tensor x0 = x0_hat.logits.defined()
                              ? SampleCategorical(at::softmax(x0_hat.logits, -1), *step.noise)
                              : x0_hat.x0;
    return at::where(unmask, x0, x_t);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const NoOptions&, const BuildContext&) {
  return std::unique_ptr<ReverseConditional>(new AbsorbingPosterior);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "absorbing_posterior", NoOptions, Make);

}  // namespace diffuse
