// The exact log-likelihood of data under the probability-flow ODE (Song et al. 2021, "Score-
// based generative modeling through SDEs", App. D.2; Chen et al. 2018's instantaneous change
// of variables). For x_t = alpha(t) x0 + sigma(t) eps the ODE is
//   dx/dt = v(x, t) = (alpha'/alpha) x + (sigma'/sigma - alpha'/alpha) (x - alpha x0_hat(x, t)),
// which moves q_t to q_s exactly when x0_hat is E[x0 | x_t], and
//   log p_{t_min}(x) = log p_T(x_T) + int_{t_min}^{T} div v(x_t, t) dt
// along the solution from x_{t_min} = x. The ODE and the integral are solved together by
// Dormand-Prince 5(4) with adaptive steps; div v exactly (one backward pass per dimension)
// or by Hutchinson's estimator E[z^T (dv/dx) z] with one Rademacher or Gaussian probe per
// sample held fixed along the path. p_T is N(0, (alpha_T^2 + sigma_T^2) I): the samplers'
// start for every Gaussian family (N(0, I) for VP and flow, sigma_max^2 for VE up to
// 1 / sigma_max^2).
#ifndef DIFFUSE_ASSEMBLY_LIKELIHOOD_H_
#define DIFFUSE_ASSEMBLY_LIKELIHOOD_H_

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "assembly/builder.h"

namespace diffuse {

enum class TraceEstimator { kExact, kRademacher, kGaussian };

struct LikelihoodOptions {
  TraceEstimator trace = TraceEstimator::kExact;
  double rtol = 1e-5, atol = 1e-5;  // the ODE solver's tolerances
  // Where the path starts: t_min = this fraction of the time range (continuous: 1e-5 as
  // score_sde; discrete: 1e-3 of a step, sigma ~ 3e-4 for DDPM's betas).
  double t_min_fraction = 0;  // 0: the default for the time domain
  // > 0: uniform dequantization of data on a grid of this spacing (2/255 for 8-bit images on
  // [-1, 1]): x + (u - 1/2) bin with u ~ U(0, 1); bits per dimension then are of the discrete
  // data, -log P(x) <= -log p(x + u bin) - D log(bin).
  double dequantization_bin = 0;
  uint64_t seed = 0;  // probes and dequantization
};

struct LikelihoodResult {
  at::Tensor log_likelihood;  // [N] float64, nats (of the dequantized points where asked)
  // [N, ...] float64: where each path ends at T (the ODE's encoding of the point). The
  // model's density differs from the data's by log N(x_T; 0, s^2 I) - log q_T(x_T).
  at::Tensor x_T;
  int64_t dims = 0;
  double mean = 0, standard_error = 0;  // of log_likelihood, nats
  double bits_per_dim = 0;  // -mean / (D log 2), + log2 of 1 / bin under dequantization
  double prior_term = 0, divergence_term = 0;  // their means, nats
  double function_evals = 0;  // velocity evaluations per chunk, averaged
  double t_min = 0;
};

// OK when EstimateLikelihood can read `p`; otherwise FAILED_PRECONDITION naming what it lacks.
absl::Status CheckLikelihood(const Pipeline& p);

// The log-likelihood of x0 [N, ...sample shape] under `p`'s probability-flow ODE.
absl::StatusOr<LikelihoodResult> EstimateLikelihood(Pipeline& p, const at::Tensor& x0,
                                                    const LikelihoodOptions& options);

// div v at (x, t) [B], exactly or by one probe `z` (x's shape) per sample: z^T (dv/dx) z.
at::Tensor VelocityDivergence(Pipeline& p, const at::Tensor& x, double t,
                              TraceEstimator trace, const at::Tensor& z);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_LIKELIHOOD_H_
