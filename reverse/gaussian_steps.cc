#include "reverse/gaussian_steps.h"

#include <cmath>
#include <limits>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>

namespace diffuse {

double GaussianPoint::sigma_tilde() const {
  return alpha == 0 ? std::numeric_limits<double>::infinity() : sigma / alpha;
}

double GaussianPoint::lambda() const { return std::log(alpha) - std::log(sigma); }

GaussianPoint PointAt(const GaussianCoefficients& g, double t) {
  return {g.Alpha(t), g.Sigma(t)};
}

at::Tensor DdimStep(const at::Tensor& x_t, const at::Tensor& x0, GaussianPoint t,
                    GaussianPoint s) {
  const double ratio = s.sigma / t.sigma;
  return at::add(x_t * ratio, x0, s.alpha - t.alpha * ratio);
}

at::Tensor AncestralStep(const at::Tensor& x_t, const at::Tensor& x0, GaussianPoint t,
                         GaussianPoint s, const at::Tensor& z) {
  const double snr_ratio = s.sigma == 0 ? 0.0 : (t.alpha * t.alpha / (t.sigma * t.sigma)) /
                                                    (s.alpha * s.alpha / (s.sigma * s.sigma));
  const double c = std::sqrt(std::max(0.0, 1.0 - snr_ratio));
  const at::Tensor eps = (x_t - x0 * t.alpha) / t.sigma;
  return x0 * s.alpha + (eps * std::sqrt(1 - c * c) + z * c) * s.sigma;
}

at::Tensor HeunCorrection(const at::Tensor& x_t, const at::Tensor& x0_t,
                          const at::Tensor& x_euler, const at::Tensor& x0_s, GaussianPoint t,
                          GaussianPoint s) {
  const double st = t.sigma_tilde(), ss = s.sigma_tilde();
  const at::Tensor xt_tilde = x_t / t.alpha;
  const at::Tensor d_t = (xt_tilde - x0_t) / st;
  const at::Tensor d_s = (x_euler / s.alpha - x0_s) / ss;
  return (xt_tilde + (d_t + d_s) * (0.5 * (ss - st))) * s.alpha;
}

at::Tensor EulerMaruyamaStep(const at::Tensor& x_t, const at::Tensor& x0, GaussianPoint t,
                             GaussianPoint s, const at::Tensor& z) {
  const double st = t.sigma_tilde(), ss = s.sigma_tilde();
  const at::Tensor xt_tilde = x_t / t.alpha;
  const at::Tensor drift = (xt_tilde - x0) * (2 * (ss - st) / st);
  return (xt_tilde + drift + z * std::sqrt(2 * st * (st - ss))) * s.alpha;
}

at::Tensor DpmSolver2MStep(const at::Tensor& x_t, const at::Tensor& x0,
                           const at::Tensor& x0_prev, double h_prev, GaussianPoint t,
                           GaussianPoint s) {
  const double h = s.lambda() - t.lambda();
  at::Tensor d = x0;
  if (x0_prev.defined() && std::isfinite(h_prev) && std::isfinite(h)) {
    const double r = h_prev / h;
    d = at::add(x0 * (1 + 1 / (2 * r)), x0_prev, -1 / (2 * r));
  }
  return at::add(x_t * (s.sigma / t.sigma), d, -s.alpha * std::expm1(-h));
}

at::Tensor Score(const at::Tensor& x, const at::Tensor& x0, GaussianPoint s) {
  return (x0 * s.alpha - x) / (s.sigma * s.sigma);
}

}  // namespace diffuse
