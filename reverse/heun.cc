// Reverse "heun": Heun's second-order method on the probability-flow ODE (Karras et al. 2022,
// Alg. 1, no churn). Two predictor calls per step except the last (to t = 0, an Euler step)
// and a step leaving alpha = 0 (zero terminal SNR, flow at t = 1), where sigma_tilde is
// infinite and the Euler/DDIM step is the exact limit: 2N - 1 calls for N steps otherwise.
#include <memory>

#include "pipeline/registry.h"
#include "reverse/churn.h"
#include "reverse/gaussian_solver.h"
#include "reverse/churn.pb.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Heun : public ChurningSolver {
 public:
  using ChurningSolver::ChurningSolver;

 protected:
  at::Tensor GaussianStep(const ReverseStep& step, const at::Tensor& x_t, const at::Tensor& x0,
                          GaussianPoint t, GaussianPoint s) override {
    const at::Tensor x_euler = DdimStep(x_t, x0, t, s);
    if (s.sigma == 0 || t.alpha == 0) return x_euler;
    const at::Tensor x0_s = (*step.predict)(x_euler, step.t_prev).x0;
    return HeunCorrection(x_t, x0, x_euler, x0_s, t, s);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const KarrasSolverOptions& o,
                                                         const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckChurnOptions(o));
  return std::unique_ptr<ReverseConditional>(new Heun(o));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "heun", KarrasSolverOptions, Make);

}  // namespace diffuse
