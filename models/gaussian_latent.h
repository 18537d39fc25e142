// The Gaussian latent of the VAE family (seed 000, "Diffusion + VAE"): an encoder's
// q(z | x0) = N(mu, diag(sigma^2)) against the prior p(z) = N(0, I).
//   Reparameterization (Kingma & Welling 2014): z = mu + sigma * eps_z, eps_z ~ N(0, I), so
//   the gradient of any loss of z reaches mu and log sigma^2.
//   KL(q(z | x0) || p(z)) = 1/2 sum_d (mu_d^2 + sigma_d^2 - 1 - log sigma_d^2), in nats:
//   the ELBO's VAE regularizer, one of its four terms.
#ifndef DIFFUSE_MODELS_GAUSSIAN_LATENT_H_
#define DIFFUSE_MODELS_GAUSSIAN_LATENT_H_

#include <ATen/core/Tensor.h>

#include "models/encoder.h"

namespace diffuse {

// z [B, D] from q and eps_z [B, D]; q.mean itself for a deterministic encoder.
at::Tensor Reparameterize(const LatentPosterior& q, const at::Tensor& eps_z);

// KL(q || N(0, I)) per sample [B]; zeros for a deterministic encoder (no density).
at::Tensor KlToStandardNormal(const LatentPosterior& q);

// The ELBO's diffusion prior term (seed 000: the "VAE reconstruction / diffusion prior"
// term) when the reverse process starts at p(x_T | z) = N(0, I): per sample [B],
// KL(N(alpha x0, sigma^2 I) || N(0, I)) = 1/2 sum (alpha^2 x0^2 + sigma^2 - 1 - log sigma^2)
// over every element of x0 [B, ...], with alpha = alpha(T), sigma = sigma(T) of a Gaussian
// forward process. Constant in the network's weights (z does not enter p(x_T | z)); it
// measures how far q(x_T | x0) is from the start, and tends to 0 as alpha -> 0 on a VP path.
at::Tensor DiffusionPriorKl(const at::Tensor& x0, double alpha, double sigma);

// -log N(x; mean, exp(log_std)^2 I) per sample [B] (nats, summed over every element):
// sum (x - mean)^2 / (2 std^2) + n (log_std + log(2 pi) / 2), n = elements per sample.
at::Tensor GaussianNegativeLogLikelihood(const at::Tensor& x, const at::Tensor& mean,
                                         const at::Tensor& log_std);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_GAUSSIAN_LATENT_H_
