// The negative ELBO of data under a discrete variance-preserving Gaussian diffusion (Ho et al.
// 2020, eq. 5), with the seed's latent z (seed 000) when the description has an encoder:
//   -log p(x0) <= KL(q(z | x0) || N(0, I))                          latent_kl
//               + KL(q(x_T | x0) || N(0, I))                         prior_kl
//               + E_q -log p(x0 | x_1, z)                            reconstruction
//               + sum_{t=2..T} E_q KL(q(x_{t-1} | x_t, x0) || p(x_{t-1} | x_t, z))  denoising,
// in nats per sample. The reverse steps are DDPM's: p(x_{t-1} | x_t, z) =
// q(x_{t-1} | x_t, x0 = x0_hat(x_t, z)) with its variance beta~_t, so each KL is
//   c_t^2 ||x0 - x0_hat||^2 / (2 beta~_t),  c_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t),
// and p(x0 | x_1, z) = N(x0_hat(x_1, z), beta_1 I) (DDPM's sigma_1^2 = beta_1; a density, not
// the discretized decoder). The denoising sum's first 20 terms (t = 2..21, the heavy ones:
// c_t^2 / beta~_t is largest there) are evaluated for every sample, the rest estimated by
// drawing t uniformly from 22..T (unbiased: (T - 21) KL_t); z is one draw of q(z | x0) per
// image. DDPM's fixed variance beta~_t makes the bound loose even for the exact x0-predictor
// (the true reverse variance is beta~_t + c_t^2 Var(x0 | x_t); Nichol & Dhariwal 2021 learn it).
#ifndef DIFFUSE_ASSEMBLY_ELBO_H_
#define DIFFUSE_ASSEMBLY_ELBO_H_

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "assembly/builder.h"

namespace diffuse {

struct ElboTerms {
  int64_t num = 0;   // samples
  int64_t dims = 0;  // elements per sample
  double latent_kl = 0, prior_kl = 0, reconstruction = 0, denoising = 0;  // nats per sample
  double denoising_se = 0;  // the denoising estimate's standard error
  double total() const { return latent_kl + prior_kl + reconstruction + denoising; }
};

// OK when EstimateElbo can read `p`; otherwise FAILED_PRECONDITION naming what it lacks.
absl::Status CheckElbo(const Pipeline& p);

// The terms of the negative ELBO of x0 [N, ...sample_shape], averaged over the samples, with
// `draws` draws of t per sample (noise and t from `seed`). FAILED_PRECONDITION names what the
// pipeline lacks: discrete variance-preserving Gaussian forward without an offset, a prior
// that starts at N(0, I), a real-valued predictor that needs no label.
absl::StatusOr<ElboTerms> EstimateElbo(Pipeline& p, const at::Tensor& x0, int draws, uint64_t seed);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_ELBO_H_
