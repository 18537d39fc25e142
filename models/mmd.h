// Maximum mean discrepancy (Gretton et al. 2012) between samples of two distributions, the
// divergence InfoDiffusion (seed 000) and InfoVAE put between the aggregate posterior
// q(z) = E_x0 q(z | x0) and the prior p(z): unlike the KL, it needs only samples of q(z).
//   MMD^2(P, Q) = E k(x, x') + E k(y, y') - 2 E k(x, y),  x, x' ~ P, y, y' ~ Q,
// estimated without bias by the U-statistic (pairs i != j within each sample).
// Kernels, on z of width D (the bandwidths of Tolstikhin et al. 2018, WAE, for p = N(0, I)):
//   RBF                    k(x, y) = exp(-||x - y||^2 / (2 D))
//   INVERSE_MULTIQUADRIC   k(x, y) = 2 D / (2 D + ||x - y||^2)
#ifndef DIFFUSE_MODELS_MMD_H_
#define DIFFUSE_MODELS_MMD_H_

#include <ATen/core/Tensor.h>

namespace diffuse {

enum class MmdKernel { kRbf, kInverseMultiquadric };

// The unbiased estimate of MMD^2 between the rows of x [N, D] and y [M, D] (N, M >= 2); a
// 0-d tensor, differentiable in both. It can be slightly negative when P = Q.
at::Tensor MmdSquared(const at::Tensor& x, const at::Tensor& y, MmdKernel kernel);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_MMD_H_
