#include "models/gaussian_latent.h"

#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/exp.h>
#include <ATen/ops/zeros.h>

namespace diffuse {

at::Tensor Reparameterize(const LatentPosterior& q, const at::Tensor& eps_z) {
  if (!q.log_variance.defined()) return q.mean;
  return q.mean + at::exp(0.5 * q.log_variance) * eps_z;
}

at::Tensor KlToStandardNormal(const LatentPosterior& q) {
  if (!q.log_variance.defined()) return at::zeros({q.mean.size(0)}, q.mean.options());
  return 0.5 * (q.mean.square() + q.log_variance.exp() - 1 - q.log_variance).sum(1);
}

at::Tensor DiffusionPriorKl(const at::Tensor& x0, double alpha, double sigma) {
  const double n = static_cast<double>(x0[0].numel());
  const double per_element = sigma * sigma - 1 - 2 * std::log(sigma);
  return 0.5 * (alpha * alpha * x0.square().flatten(1).sum(1) + n * per_element);
}

at::Tensor GaussianNegativeLogLikelihood(const at::Tensor& x, const at::Tensor& mean,
                                         const at::Tensor& log_std) {
  const double n = static_cast<double>(x[0].numel());
  const at::Tensor squared = (x - mean).square().flatten(1).sum(1);
  return 0.5 * squared * at::exp(-2 * log_std) + n * (log_std + 0.5 * std::log(2 * M_PI));
}

}  // namespace diffuse
