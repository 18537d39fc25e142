// Reverse "resample": p(x_{t_prev} | x_t, x0) = q(x_{t_prev} | x0), i.e. corrupt the
// predicted x0 again with fresh noise. Valid for every forward process.
#include <memory>

#include "pipeline/registry.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {
namespace {

class Resample : public ReverseConditional {
 public:
  absl::Status CheckCompatible(const ForwardProcess&) const override {
    return absl::OkStatus();
  }
  at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                  const X0Prediction& x0_hat) override {
    const at::Tensor eps = step.forward->SampleNoise(x_t.sizes(), *step.noise);
    return step.forward->Apply(x0_hat.x0, step.t_prev, eps);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const NoOptions&,
                                                         const BuildContext&) {
  return std::unique_ptr<ReverseConditional>(new Resample);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "resample", NoOptions, Make);

}  // namespace diffuse
