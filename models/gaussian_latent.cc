#include "models/gaussian_latent.h"

#include <torch/torch.h>

namespace diffuse {

at::Tensor Reparameterize(const LatentPosterior& q, const at::Tensor& eps_z) {
  if (!q.log_variance.defined()) return q.mean;
  return q.mean + torch::exp(0.5 * q.log_variance) * eps_z;
}

at::Tensor KlToStandardNormal(const LatentPosterior& q) {
  if (!q.log_variance.defined()) return torch::zeros({q.mean.size(0)}, q.mean.options());
  return 0.5 * (q.mean.square() + q.log_variance.exp() - 1 - q.log_variance).sum(1);
}

}  // namespace diffuse
