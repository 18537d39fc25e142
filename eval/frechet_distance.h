// The Fréchet distance between Gaussians fitted to two sets of feature vectors (Dowson &
// Landau 1982; Heusel et al. 2017 use it on Inception features as "FID"):
//   d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2),
// the squared 2-Wasserstein distance of N(mu_a, S_a) and N(mu_b, S_b).
#ifndef DIFFUSE_EVAL_FRECHET_DISTANCE_H_
#define DIFFUSE_EVAL_FRECHET_DISTANCE_H_

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace diffuse {

struct FeatureStatistics {
  at::Tensor mean;        // [D] float64
  at::Tensor covariance;  // [D, D] float64, unbiased (N - 1)
  int64_t count = 0;
};

// Mean and covariance of features [N, D], N >= 2; INVALID_ARGUMENT otherwise or when a
// feature is not finite.
absl::StatusOr<FeatureStatistics> ComputeFeatureStatistics(const at::Tensor& features);

// d^2 above, computed in float64 through symmetric eigendecompositions (S_a^1/2 S_b S_a^1/2
// is symmetric positive semi-definite, so its square root's trace is the sum of the square
// roots of its eigenvalues; round-off negatives are clamped to 0). INVALID_ARGUMENT when the
// dimensions differ.
absl::StatusOr<double> FrechetDistance(const FeatureStatistics& a, const FeatureStatistics& b);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_FRECHET_DISTANCE_H_
