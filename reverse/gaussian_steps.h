// One-step updates of Gaussian samplers, as free functions of the coefficients
// (alpha, sigma) at the current time t and the next time s < t. With
// sigma_tilde = sigma / alpha and x_tilde = x / alpha every Gaussian family becomes the
// variance-exploding ODE dx_tilde / dsigma_tilde = (x_tilde - x0_hat) / sigma_tilde
// (Karras et al. 2022, eq. 4), which is where Euler, Heun and Euler-Maruyama are defined;
// DPM-Solver++ works in lambda = log(alpha / sigma) (Lu et al. 2022).
#ifndef DIFFUSE_REVERSE_GAUSSIAN_STEPS_H_
#define DIFFUSE_REVERSE_GAUSSIAN_STEPS_H_

#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"

namespace diffuse {

struct GaussianPoint {
  double alpha;
  double sigma;
  double sigma_tilde() const;  // sigma / alpha, +inf where alpha = 0
  double lambda() const;       // log(alpha / sigma), -inf / +inf at the ends
};

GaussianPoint PointAt(const GaussianCoefficients& g, double t);

// DDIM: x_s = alpha_s x0 + sigma_s (x_t - alpha_t x0) / sigma_t. It is also the Euler step
// in sigma_tilde and first-order DPM-Solver++, and stays defined where alpha_t = 0.
at::Tensor DdimStep(const at::Tensor& x_t, const at::Tensor& x0, GaussianPoint t,
                    GaussianPoint s);

// DDPM ancestral step (eta = 1): x_s = alpha_s x0 + sigma_s (sqrt(1 - c^2) eps_hat + c z),
// c^2 = 1 - SNR(t) / SNR(s).
at::Tensor AncestralStep(const at::Tensor& x_t, const at::Tensor& x0, GaussianPoint t,
                         GaussianPoint s, const at::Tensor& z);

// Heun's correction (Karras et al. 2022, Alg. 1 lines 9-11): given the Euler result x_euler
// and x0_hat at (x_euler, s), x_tilde_s = x_tilde_t + (st_s - st_t) (d_t + d_s) / 2.
at::Tensor HeunCorrection(const at::Tensor& x_t, const at::Tensor& x0_t,
                          const at::Tensor& x_euler, const at::Tensor& x0_s, GaussianPoint t,
                          GaussianPoint s);

// Euler-Maruyama on the reverse SDE in sigma_tilde:
//   x_tilde_s = x_tilde_t + 2 (st_s - st_t) (x_tilde_t - x0) / st_t
//               + sqrt(2 st_t (st_t - st_s)) z.
at::Tensor EulerMaruyamaStep(const at::Tensor& x_t, const at::Tensor& x0, GaussianPoint t,
                             GaussianPoint s, const at::Tensor& z);

// DPM-Solver++(2M) (Lu et al. 2022, Alg. 2): with h = lambda_s - lambda_t,
//   x_s = (sigma_s / sigma_t) x_t - alpha_s expm1(-h) D,
// D = x0 (first order) or (1 + 1/(2r)) x0 - 1/(2r) x0_prev with r = h_prev / h.
at::Tensor DpmSolver2MStep(const at::Tensor& x_t, const at::Tensor& x0,
                           const at::Tensor& x0_prev, double h_prev, GaussianPoint t,
                           GaussianPoint s);

// The score grad log q_s(x) = (alpha_s x0_hat - x) / sigma_s^2 (Tweedie).
at::Tensor Score(const at::Tensor& x, const at::Tensor& x0, GaussianPoint s);

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_GAUSSIAN_STEPS_H_
