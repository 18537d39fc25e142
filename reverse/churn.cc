#include "reverse/churn.h"

#include <algorithm>
#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "pipeline/option_checks.h"
#include "reverse/gaussian_steps.h"
#include "reverse/time_grid.h"
#include "util/status_macros.h"

namespace diffuse {

Churned Churn(const KarrasSolverOptions& o, const ReverseStep& step, const at::Tensor& x_t) {
  const GaussianCoefficients& g = *step.forward->gaussian();
  const GaussianPoint t = PointAt(g, step.t);
  const double st = t.sigma_tilde();
  if (o.s_churn() <= 0 || !std::isfinite(st) || st < o.s_tmin() || st > o.s_tmax()) {
    return {x_t, step.t};
  }
  const double gamma = std::min(o.s_churn() / step.num_steps, std::sqrt(2.0) - 1);
  const double t_max = step.forward->time_domain().t_max();
  const double st_max = PointAt(g, t_max).sigma_tilde();
  const double t_hat =
      st * (1 + gamma) >= st_max ? t_max : TimeAtScaledSigma(g, st * (1 + gamma), step.t, t_max);
  const GaussianPoint hat = PointAt(g, t_hat);
  if (!std::isfinite(hat.sigma_tilde()) || hat.sigma_tilde() <= st) return {x_t, step.t};
  const double extra = std::sqrt(hat.sigma_tilde() * hat.sigma_tilde() - st * st);
  const at::Tensor x_tilde = x_t / t.alpha + (extra * o.s_noise()) * step.noise->Normal(x_t.sizes()).to(x_t.scalar_type());
  return {hat.alpha * x_tilde, t_hat};
}

absl::Status CheckChurnOptions(const KarrasSolverOptions& o) {
  ABSL_RETURN_IF_ERROR(CheckInRange("s_churn", o.s_churn(), 0, 1000));
  ABSL_RETURN_IF_ERROR(CheckInRange("s_noise", o.s_noise(), 0.5, 2));
  if (!(o.s_tmin() >= 0 && o.s_tmin() <= o.s_tmax())) {
    return absl::InvalidArgumentError(absl::StrCat("options s_tmin = ", o.s_tmin(),
                                                   " and s_tmax = ", o.s_tmax(),
                                                   ": need 0 <= s_tmin <= s_tmax"));
  }
  return absl::OkStatus();
}

}  // namespace diffuse
