// Reverse "substitution": x_{t_prev} = F_{t_prev}(x0, F_t^{-1}(x0, x_t)), deterministic.
// For Gaussian processes this is DDIM (eta = 0); for blur it is cold diffusion's improved
// sampler. Needs an invertible forward process.
#include <memory>

#include "pipeline/registry.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {
namespace {

class Substitution : public ReverseConditional {
 public:
  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    if (!forward.IsInvertible()) {
      return absl::FailedPreconditionError(
          "needs a forward process that is invertible in eps (F_t^{-1})");
    }
    return absl::OkStatus();
  }
  at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                  const X0Prediction& x0_hat) override {
    const at::Tensor eps = step.forward->InvertNoise(x0_hat.x0, x_t, step.t);
    return step.forward->Apply(x0_hat.x0, step.t_prev, eps);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const NoOptions&,
                                                         const BuildContext&) {
  return std::unique_ptr<ReverseConditional>(new Substitution);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "substitution", NoOptions, Make);

}  // namespace diffuse
