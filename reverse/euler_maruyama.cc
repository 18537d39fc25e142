// Reverse "euler_maruyama": Euler-Maruyama on the reverse-time SDE in sigma_tilde (the VE
// SDE every Gaussian family maps to). The last step (to t = 0) returns x0_hat; a step from
// alpha = 0 is the DDPM ancestral step, the exact limit there.
#include <memory>

#include "pipeline/registry.h"
#include "reverse/gaussian_solver.h"

namespace diffuse {
namespace {

class EulerMaruyama : public GaussianSolver {
 protected:
  at::Tensor GaussianStep(const ReverseStep& step, const at::Tensor& x_t, const at::Tensor& x0,
                          GaussianPoint t, GaussianPoint s) override {
    if (s.sigma == 0) return x0 * s.alpha;
    const at::Tensor z = step.noise->Normal(x_t.sizes());
    if (t.alpha == 0) return AncestralStep(x_t, x0, t, s, z);
    return EulerMaruyamaStep(x_t, x0, t, s, z);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const NoOptions&,
                                                         const BuildContext&) {
  return std::unique_ptr<ReverseConditional>(new EulerMaruyama);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "euler_maruyama", NoOptions, Make);

}  // namespace diffuse
