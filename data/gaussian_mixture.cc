#include "data/gaussian_mixture.h"

#include <cmath>
#include <limits>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/einsum.h>
#include <ATen/ops/full.h>
#include <ATen/ops/linalg_eigh.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/multinomial.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>

namespace diffuse {
namespace {

// alpha / sigma as [B, 1] float64 (numbers broadcast).
at::Tensor AsColumn(const at::Tensor& c, int64_t batch) {
  at::Tensor d = c.to(at::kDouble);
  return d.dim() == 0 ? d.expand({batch, 1}) : d.reshape({batch, 1});
}

}  // namespace

GaussianMixture::GaussianMixture(at::Tensor means, at::Tensor stds, at::Tensor weights,
                                 at::Tensor labels)
    : means_(means.to(at::kDouble)),
      log_weights_((weights.to(at::kDouble) / weights.sum()).log()),
      labels_(labels.to(at::kLong)) {
  TORCH_CHECK(means_.dim() == 2 && stds.size(0) == means_.size(0) &&
                  log_weights_.size(0) == means_.size(0) && labels_.size(0) == means_.size(0),
              "mixture parameters disagree on the number of components");
  const at::Tensor s = stds.to(at::kDouble);
  scales_ = (s.dim() == 1 ? s.unsqueeze(1).expand_as(means_) : s).contiguous();
  TORCH_CHECK(scales_.sizes() == means_.sizes(), "stds must be [K] or [K, D]");
}

GaussianMixture GaussianMixture::WithCovariances(at::Tensor means, at::Tensor covariances,
                                                 at::Tensor weights, at::Tensor labels) {
  const at::Tensor c = covariances.to(at::kDouble);
  TORCH_CHECK(c.dim() == 3 && c.size(1) == means.size(1) && c.size(2) == means.size(1),
              "covariances must be [K, D, D]");
  // C = U diag(l) U^T; eigh sorts l ascending, U's columns are the axes.
  auto [l, u] = at::linalg_eigh(c, "L");
  GaussianMixture m(means, l.clamp_min(0).sqrt(), weights, labels);
  m.rotation_ = u.contiguous();
  return m;
}

int64_t GaussianMixture::num_classes() const { return labels_.max().item<int64_t>() + 1; }

at::Tensor GaussianMixture::ClassLogPrior() const {
  at::Tensor weights = at::zeros({num_classes()}, at::kDouble);
  weights.index_add_(0, labels_, log_weights_.exp());
  return weights.log();
}

at::Tensor GaussianMixture::Sample(int64_t n, at::Generator& generator,
                                   at::Tensor* component) const {
  at::Tensor k = at::multinomial(log_weights_.exp(), n, /*replacement=*/true, generator);
  at::Tensor eps = at::randn({n, dim()}, generator, at::kDouble);
  if (component != nullptr) *component = k;
  at::Tensor offset = eps * scales_.index_select(0, k);                    // [n, D]
  if (rotation_.defined()) {
    offset = at::matmul(rotation_.index_select(0, k), offset.unsqueeze(2)).squeeze(2);
  }
  return (means_.index_select(0, k) + offset).to(at::kFloat);
}

at::Tensor GaussianMixture::Mahalanobis(const at::Tensor& x, const at::Tensor& component) const {
  at::Tensor d = x.to(at::kDouble) - means_.index_select(0, component);  // [B, D]
  if (rotation_.defined()) {
    d = at::matmul(d.unsqueeze(1), rotation_.index_select(0, component)).squeeze(1);
  }
  return (d / scales_.index_select(0, component)).norm(2, 1);
}

at::Tensor GaussianMixture::Rotated(const at::Tensor& x, const at::Tensor& a) const {
  at::Tensor d = x.unsqueeze(1) - a.unsqueeze(2) * means_.unsqueeze(0);   // [B, K, D]
  if (!rotation_.defined()) return d;
  return at::einsum("bkd,kde->bke", {d, rotation_});                   // U_k^T d
}

at::Tensor GaussianMixture::ComponentLogits(const at::Tensor& x_t, const at::Tensor& alpha,
                                            const at::Tensor& sigma, const at::Tensor& label,
                                            at::Tensor* y_out, at::Tensor* variance) const {
  const int64_t batch = x_t.size(0);
  at::Tensor x = x_t.to(at::kDouble);
  at::Tensor a = AsColumn(alpha, batch);                                   // [B, 1]
  at::Tensor s = AsColumn(sigma, batch);                                   // [B, 1]
  at::Tensor v = (a * a).unsqueeze(2) * (scales_ * scales_).unsqueeze(0) +
                 (s * s).unsqueeze(2);                                     // [B, K, D]
  at::Tensor y = Rotated(x, a);                                            // [B, K, D]
  at::Tensor logits = log_weights_.unsqueeze(0) - 0.5 * (2 * M_PI * v).log().sum(2) -
                      (y.pow(2) / v).sum(2) / 2;
  if (label.defined()) {
    at::Tensor l = label.to(at::kLong).unsqueeze(1);                   // [B, 1]
    at::Tensor keep = (labels_.unsqueeze(0) == l) | (l < 0);
    logits = logits.masked_fill(~keep, -std::numeric_limits<double>::infinity());
  }
  if (y_out != nullptr) *y_out = y;
  if (variance != nullptr) *variance = v;
  return logits;
}

at::Tensor GaussianMixture::LogProb(const at::Tensor& x_t, const at::Tensor& alpha,
                                    const at::Tensor& sigma, const at::Tensor& label) const {
  at::Tensor logits = ComponentLogits(x_t, alpha, sigma, label, nullptr, nullptr);
  at::Tensor lp = logits.logsumexp(1);
  if (label.defined()) {
    // Condition on the class: subtract log P(class).
    at::Tensor l = label.to(at::kLong).unsqueeze(1);
    at::Tensor in_class = (labels_.unsqueeze(0) == l) | (l < 0);
    lp = lp - log_weights_.unsqueeze(0)
                  .expand({x_t.size(0), num_components()})
                  .masked_fill(~in_class, -std::numeric_limits<double>::infinity())
                  .logsumexp(1);
  }
  return lp;
}

at::Tensor GaussianMixture::PosteriorMean(const at::Tensor& x_t, const at::Tensor& alpha,
                                          const at::Tensor& sigma, const at::Tensor& label) const {
  at::Tensor y, v;
  at::Tensor r = ComponentLogits(x_t, alpha, sigma, label, &y, &v).softmax(1);  // [B, K]
  at::Tensor a = AsColumn(alpha, x_t.size(0)).unsqueeze(2);                   // [B, 1, 1]
  // E[x0|x_t,k] - mu_k = U_k (alpha l_k / v_k * y), averaged over r.
  at::Tensor shift = a * (scales_ * scales_).unsqueeze(0) / v * y;             // [B, K, D]
  if (rotation_.defined()) shift = at::einsum("kde,bke->bkd", {rotation_, shift});
  at::Tensor mean = at::matmul(r, means_) + (r.unsqueeze(2) * shift).sum(1);
  return mean.to(x_t.scalar_type());
}

at::Tensor GaussianMixture::Responsibilities(const at::Tensor& x_t, const at::Tensor& alpha,
                                             const at::Tensor& sigma) const {
  return ComponentLogits(x_t, alpha, sigma, {}, nullptr, nullptr).softmax(1);
}

GaussianMixture EightGaussians(double radius, double std, int64_t num_modes) {
  at::Tensor angle = at::arange(num_modes, at::kDouble) * (2 * M_PI / num_modes);
  at::Tensor means = at::stack({angle.cos(), angle.sin()}, 1) * radius;
  return GaussianMixture(means, at::full({num_modes}, std, at::kDouble),
                         at::ones({num_modes}, at::kDouble),
                         at::arange(num_modes, at::kLong));
}

}  // namespace diffuse
