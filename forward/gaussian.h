// Shared math of Gaussian forward families, x_t = alpha(t) x0 + sigma(t) eps.
#ifndef DIFFUSE_FORWARD_GAUSSIAN_H_
#define DIFFUSE_FORWARD_GAUSSIAN_H_

#include <functional>

#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"
#include "forward/time.h"

namespace diffuse {

// A per-sample coefficient [B] viewed as [B, 1, ..., 1] in `like`'s dtype.
at::Tensor BroadcastPerSample(const at::Tensor& coef, const at::Tensor& like);

// x_t = alpha(t) x0 + sigma(t) eps.
at::Tensor GaussianApply(const GaussianCoefficients& c, const at::Tensor& x0, const Time& t,
                         const at::Tensor& eps);

// eps = (x_t - alpha(t) x0) / sigma(t); requires sigma(t) > 0.
at::Tensor GaussianInvertNoise(const GaussianCoefficients& c, const at::Tensor& x0,
                               const at::Tensor& x_t, const Time& t);

// alpha(t) and sigma(t) as float64 tensors: 0-dim for a shared time, [B] per sample.
at::Tensor AlphaTensor(const GaussianCoefficients& c, const Time& t);
at::Tensor SigmaTensor(const GaussianCoefficients& c, const Time& t);

// f applied to each element of a float64 [B] tensor (per-sample coefficients from a scalar
// formula; B is a training batch, so the loop is cheap and the formula exact).
at::Tensor EvaluatePerSample(const at::Tensor& t, const std::function<double(double)>& f);

// Signal-to-noise ratio alpha^2 / sigma^2 (infinite where sigma = 0).
double Snr(const GaussianCoefficients& c, double t);

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_GAUSSIAN_H_
