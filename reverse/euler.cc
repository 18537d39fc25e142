// Reverse "euler": Euler's method on the probability-flow ODE in sigma_tilde (Karras et al.
// 2022, Alg. 1 without the Heun correction). In these variables the Euler step is exactly
// DDIM, so "euler" and "substitution" agree on Gaussian processes (tested); "euler" keeps
// the ODE-solver naming and refuses non-Gaussian operators.
#include <memory>

#include "pipeline/registry.h"
#include "reverse/churn.h"
#include "reverse/gaussian_solver.h"
#include "reverse/churn.pb.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Euler : public ChurningSolver {
 public:
  using ChurningSolver::ChurningSolver;

 protected:
  at::Tensor GaussianStep(const ReverseStep&, const at::Tensor& x_t, const at::Tensor& x0,
                          GaussianPoint t, GaussianPoint s) override {
    return DdimStep(x_t, x0, t, s);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const KarrasSolverOptions& o,
                                                         const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckChurnOptions(o));
  return std::unique_ptr<ReverseConditional>(new Euler(o));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "euler", KarrasSolverOptions, Make);

}  // namespace diffuse
