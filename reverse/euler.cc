// Reverse "euler": Euler's method on the probability-flow ODE in sigma_tilde (Karras et al.
// 2022, Alg. 1 without the Heun correction). In these variables the Euler step is exactly
// DDIM, so "euler" and "substitution" agree on Gaussian processes (tested); "euler" keeps
// the ODE-solver naming and refuses non-Gaussian operators.
#include <memory>

#include "absl/strings/str_cat.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "reverse/churn.h"
#include "reverse/gaussian_solver.h"
#include "reverse/solver_options.pb.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Euler : public GaussianSolver {
 public:
  explicit Euler(const KarrasSolverOptions& options) : options_(options) {}

  // Stochastic churn, before the step's prediction (so it costs no extra predictor call).
  double Perturb(const ReverseStep& step, at::Tensor& x_t) override {
    Churned c = Churn(options_, step, x_t);
    x_t = std::move(c.x);
    return c.t_hat;
  }

 protected:
  at::Tensor GaussianStep(const ReverseStep&, const at::Tensor& x_t, const at::Tensor& x0,
                          GaussianPoint t, GaussianPoint s) override {
    return DdimStep(x_t, x0, t, s);
  }

 private:
  KarrasSolverOptions options_;
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const KarrasSolverOptions& o,
                                                         const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("s_churn", o.s_churn(), 0, 1000));
  ABSL_RETURN_IF_ERROR(CheckInRange("s_noise", o.s_noise(), 0.5, 2));
  if (!(o.s_tmin() >= 0 && o.s_tmin() <= o.s_tmax())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "options s_tmin = ", o.s_tmin(), " and s_tmax = ", o.s_tmax(), ": need 0 <= s_tmin <= s_tmax"));
  }
  return std::unique_ptr<ReverseConditional>(new Euler(o));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "euler", KarrasSolverOptions, Make);

}  // namespace diffuse
