// Base of the reverse conditionals that need Gaussian coefficients (ODE / SDE solvers):
// checks them once, and hands each step its coefficients at t and t_prev.
#ifndef DIFFUSE_REVERSE_GAUSSIAN_SOLVER_H_
#define DIFFUSE_REVERSE_GAUSSIAN_SOLVER_H_

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "reverse/gaussian_steps.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {

class GaussianSolver : public ReverseConditional {
 public:
  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    if (forward.gaussian() == nullptr) {
      return absl::FailedPreconditionError(
          "is a solver of the Gaussian probability-flow ODE / reverse SDE and needs a "
          "forward process with Gaussian coefficients");
    }
    return absl::OkStatus();
  }
  at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                  const X0Prediction& x0_hat) final {
    const GaussianCoefficients& g = *step.forward->gaussian();
    return GaussianStep(step, x_t, x0_hat.x0, PointAt(g, step.t), PointAt(g, step.t_prev));
  }

 protected:
  // One step from (x_t at t) to s = t_prev, given x0_hat at (x_t, t).
  virtual at::Tensor GaussianStep(const ReverseStep& step, const at::Tensor& x_t,
                                  const at::Tensor& x0, GaussianPoint t, GaussianPoint s) = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_GAUSSIAN_SOLVER_H_
