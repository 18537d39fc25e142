#include "eval/frechet_distance.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/diag.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/linalg_eigh.h>
#include <ATen/ops/linalg_eigvalsh.h>

#include "absl/strings/str_cat.h"

namespace diffuse {
namespace {

// S^1/2 of a symmetric positive semi-definite S.
at::Tensor SymmetricSqrt(const at::Tensor& s) {
  auto [eigenvalues, eigenvectors] = at::linalg_eigh(s, "L");
  return eigenvectors.matmul(at::diag(eigenvalues.clamp_min(0).sqrt()))
      .matmul(eigenvectors.transpose(0, 1));
}

}  // namespace

absl::StatusOr<FeatureStatistics> ComputeFeatureStatistics(const at::Tensor& features) {
  if (features.dim() != 2 || features.size(0) < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("features must be [N >= 2, D], got ", c10::str(features.sizes())));
  }
  const at::Tensor f = features.to(at::kDouble);
  if (!at::isfinite(f).all().item<bool>()) {
    return absl::InvalidArgumentError("features contain non-finite values");
  }
  FeatureStatistics stats;
  stats.count = f.size(0);
  stats.mean = f.mean(0);
  const at::Tensor centered = f - stats.mean;
  stats.covariance = centered.transpose(0, 1).matmul(centered) / double(stats.count - 1);
  return stats;
}

absl::StatusOr<double> FrechetDistance(const FeatureStatistics& a, const FeatureStatistics& b) {
  if (!a.mean.defined() || !b.mean.defined() || a.mean.numel() != b.mean.numel()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "feature dimensions differ: ", a.mean.defined() ? a.mean.numel() : 0, " vs ",
        b.mean.defined() ? b.mean.numel() : 0));
  }
  const at::Tensor root_a = SymmetricSqrt(a.covariance);
  at::Tensor m = root_a.matmul(b.covariance).matmul(root_a);
  m = (m + m.transpose(0, 1)) / 2;  // symmetric up to round-off; eigvalsh reads one triangle
  const double tr_sqrt = at::linalg_eigvalsh(m, "L").clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (a.mean - b.mean).pow(2).sum().item<double>();
  return mean_term + a.covariance.trace().item<double>() + b.covariance.trace().item<double>() -
         2 * tr_sqrt;
}

}  // namespace diffuse
