// Reverse "categorical_posterior": D3PM's x0-parameterized reverse step for factorized
// categorical processes (uniform_categorical, masking of tokens),
//   p(x_s | x_t) = sum_i p(x0 = i | x_t) q(x_s | x_t, x0 = i)        (Austin et al. 2021, eq. 4
// with the exact posterior weights), where p(x0 | x_t) = softmax(logits) of the predictor.
// With the true p(x0 | x_t) each token's step is exact; at s = 0 it draws x0 itself.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/softmax.h>

#include "forward/categorical.h"
#include "pipeline/registry.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {
namespace {

class CategoricalPosteriorStep : public ReverseConditional {
 public:
  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    if (forward.categorical() == nullptr) {
      return absl::FailedPreconditionError(
          "needs a categorical forward process on tokens (uniform_categorical, or masking "
          "with num_classes)");
    }
    return absl::OkStatus();
  }
  at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                  const X0Prediction& x0_hat) override {
    TORCH_CHECK(x0_hat.logits.defined(), "categorical_posterior needs x0 logits");
    const at::Tensor p0 = at::softmax(x0_hat.logits.to(at::kDouble), -1);
    return SampleCategorical(
        CategoricalPosterior(*step.forward->categorical(), x_t, p0, step.t, step.t_prev),
        *step.noise);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const NoOptions&, const BuildContext&) {
  return std::unique_ptr<ReverseConditional>(new CategoricalPosteriorStep);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "categorical_posterior", NoOptions, Make);

}  // namespace diffuse
