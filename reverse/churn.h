// Stochastic churn (Karras et al. 2022, Alg. 2 lines 4-6) for the Gaussian ODE solvers: move
// x_t "up" to a higher noise level t_hat by adding fresh Gaussian noise, which keeps x exactly
// on the forward marginal (x_tilde_hat = x_tilde_t + sqrt(st_hat^2 - st_t^2) s_noise z).
#ifndef DIFFUSE_REVERSE_CHURN_H_
#define DIFFUSE_REVERSE_CHURN_H_

#include <utility>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "reverse/gaussian_solver.h"
#include "reverse/reverse_conditional.h"
#include "reverse/churn.pb.h"

namespace diffuse {

struct Churned {
  at::Tensor x;  // the state at t_hat
  double t_hat;  // >= step.t (== step.t when no churn applies)
};

// The churned start of `step` (gamma = min(s_churn / N, sqrt(2) - 1) within
// [s_tmin, s_tmax], capped at t_max). Precondition: step.forward has Gaussian coefficients.
Churned Churn(const KarrasSolverOptions& options, const ReverseStep& step, const at::Tensor& x_t);

// The options' ranges, checked once when a pipeline is built: s_churn in [0, 1000], s_noise
// in [0.5, 2], 0 <= s_tmin <= s_tmax. Errors name the option.
absl::Status CheckChurnOptions(const KarrasSolverOptions& options);

// A Gaussian solver that churns before each step's prediction (so churn costs no extra
// predictor call): euler, heun.
class ChurningSolver : public GaussianSolver {
 public:
  explicit ChurningSolver(const KarrasSolverOptions& options) : options_(options) {}

  double Perturb(const ReverseStep& step, at::Tensor& x_t) override {
    Churned c = Churn(options_, step, x_t);
    x_t = std::move(c.x);
    return c.t_hat;
  }

 private:
  KarrasSolverOptions options_;
};

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_CHURN_H_
