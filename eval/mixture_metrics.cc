#include "eval/mixture_metrics.h"

#include <algorithm>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/scalar_tensor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace diffuse {

double MixtureQuality::max_mode_error() const {
  double worst = 0;
  const double expected = 1.0 / mode_fraction.size();
  for (double f : mode_fraction) worst = std::max(worst, std::abs(f - expected));
  return worst;
}

std::string MixtureQuality::ToString() const {
  std::string modes;
  for (double f : mode_fraction) absl::StrAppend(&modes, absl::StrFormat(" %.3f", f));
  return absl::StrFormat(
      "mode fractions:%s | off-mode %.4f | max mode error %.4f | mean log-likelihood %.4f | "
      "sliced W2 %.4f",
      modes, off_mode_fraction, max_mode_error(), mean_log_likelihood, sliced_w2);
}

double SlicedW2(const at::Tensor& a, const at::Tensor& b, int num_projections, uint64_t seed) {
  TORCH_CHECK(a.sizes() == b.sizes(), "sliced W2 needs equally shaped sample sets");
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor theta = at::randn({a.size(1), num_projections}, gen, at::kDouble);
  theta = theta / theta.norm(2, 0, true);
  at::Tensor pa = std::get<0>(at::matmul(a.to(at::kDouble), theta).sort(0));
  at::Tensor pb = std::get<0>(at::matmul(b.to(at::kDouble), theta).sort(0));
  return std::sqrt((pa - pb).pow(2).mean().item<double>());
}

MixtureQuality EvaluateAgainstMixture(const at::Tensor& samples, const GaussianMixture& mixture,
                                      const at::Tensor& reference) {
  MixtureQuality q;
  const at::Tensor x = samples.to(at::kDouble).flatten(1);
  const at::Tensor one = at::scalar_tensor(1.0, at::kDouble);
  const at::Tensor zero = at::scalar_tensor(0.0, at::kDouble);
  const at::Tensor nearest = mixture.Responsibilities(x, one, zero).argmax(1);
  const at::Tensor distance = mixture.Mahalanobis(x, nearest);
  const at::Tensor on_mode = distance.le(3.0);
  const double n = static_cast<double>(x.size(0));
  for (int64_t k = 0; k < mixture.num_components(); ++k) {
    q.mode_fraction.push_back((nearest.eq(k) & on_mode).sum().item<double>() / n);
  }
  q.off_mode_fraction = 1.0 - on_mode.sum().item<double>() / n;
  q.mean_log_likelihood = mixture.LogProb(x, one, zero).mean().item<double>();
  q.sliced_w2 = SlicedW2(x, reference.flatten(1), 256, /*seed=*/12345);
  return q;
}

}  // namespace diffuse
