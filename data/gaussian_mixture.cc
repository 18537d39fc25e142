#include "data/gaussian_mixture.h"

#include <cmath>

#include <torch/torch.h>

namespace diffuse {
namespace {

// alpha / sigma as [B, 1] float64 (numbers broadcast).
at::Tensor AsColumn(const at::Tensor& c, int64_t batch) {
  at::Tensor d = c.to(torch::kFloat64);
  return d.dim() == 0 ? d.expand({batch, 1}) : d.reshape({batch, 1});
}

}  // namespace

GaussianMixture::GaussianMixture(at::Tensor means, at::Tensor stds, at::Tensor weights,
                                 at::Tensor labels)
    : means_(means.to(torch::kFloat64)),
      stds_(stds.to(torch::kFloat64)),
      log_weights_((weights.to(torch::kFloat64) / weights.sum()).log()),
      labels_(labels.to(torch::kLong)) {
  TORCH_CHECK(means_.dim() == 2 && stds_.size(0) == means_.size(0) &&
                  log_weights_.size(0) == means_.size(0) && labels_.size(0) == means_.size(0),
              "mixture parameters disagree on the number of components");
}

int64_t GaussianMixture::num_classes() const { return labels_.max().item<int64_t>() + 1; }

at::Tensor GaussianMixture::ClassLogPrior() const {
  at::Tensor weights = torch::zeros({num_classes()}, torch::kFloat64);
  weights.index_add_(0, labels_, log_weights_.exp());
  return weights.log();
}

at::Tensor GaussianMixture::Sample(int64_t n, at::Generator& generator,
                                   at::Tensor* component) const {
  at::Tensor k = torch::multinomial(log_weights_.exp(), n, /*replacement=*/true, generator);
  at::Tensor eps = torch::randn({n, dim()}, generator, torch::kFloat64);
  if (component != nullptr) *component = k;
  return (means_.index_select(0, k) + eps * stds_.index_select(0, k).unsqueeze(1))
      .to(torch::kFloat32);
}

at::Tensor GaussianMixture::ComponentLogits(const at::Tensor& x_t, const at::Tensor& alpha,
                                            const at::Tensor& sigma, const at::Tensor& label,
                                            at::Tensor* variance) const {
  const int64_t batch = x_t.size(0);
  at::Tensor x = x_t.to(torch::kFloat64);
  at::Tensor a = AsColumn(alpha, batch);                                   // [B, 1]
  at::Tensor s = AsColumn(sigma, batch);                                   // [B, 1]
  at::Tensor v = a * a * (stds_ * stds_).unsqueeze(0) + s * s;             // [B, K]
  at::Tensor diff = x.unsqueeze(1) - a.unsqueeze(2) * means_.unsqueeze(0); // [B, K, D]
  at::Tensor logits = log_weights_.unsqueeze(0) -
                      0.5 * dim() * (2 * M_PI * v).log() -
                      diff.pow(2).sum(2) / (2 * v);
  if (label.defined()) {
    at::Tensor l = label.to(torch::kLong).unsqueeze(1);                   // [B, 1]
    at::Tensor keep = (labels_.unsqueeze(0) == l) | (l < 0);
    logits = logits.masked_fill(~keep, -std::numeric_limits<double>::infinity());
  }
  if (variance != nullptr) *variance = v;
  return logits;
}

at::Tensor GaussianMixture::LogProb(const at::Tensor& x_t, const at::Tensor& alpha,
                                    const at::Tensor& sigma, const at::Tensor& label) const {
  at::Tensor logits = ComponentLogits(x_t, alpha, sigma, label, nullptr);
  at::Tensor lp = logits.logsumexp(1);
  if (label.defined()) {
    // Condition on the class: subtract log P(class).
    at::Tensor l = label.to(torch::kLong).unsqueeze(1);
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
  at::Tensor v;
  at::Tensor r = ComponentLogits(x_t, alpha, sigma, label, &v).softmax(1);  // [B, K]
  const int64_t batch = x_t.size(0);
  at::Tensor a = AsColumn(alpha, batch);
  at::Tensor s = AsColumn(sigma, batch);
  // E[x0|x_t,k] = (sigma^2 / v_k) mu_k + (alpha s_k^2 / v_k) x_t.
  at::Tensor from_mean = torch::matmul(r * (s * s) / v, means_);           // [B, D]
  at::Tensor from_x = (r * a * (stds_ * stds_).unsqueeze(0) / v).sum(1, true);
  return (from_mean + from_x * x_t.to(torch::kFloat64)).to(x_t.scalar_type());
}

at::Tensor GaussianMixture::Responsibilities(const at::Tensor& x_t, const at::Tensor& alpha,
                                             const at::Tensor& sigma) const {
  return ComponentLogits(x_t, alpha, sigma, {}, nullptr).softmax(1);
}

GaussianMixture EightGaussians(double radius, double std, int64_t num_modes) {
  at::Tensor angle = torch::arange(num_modes, torch::kFloat64) * (2 * M_PI / num_modes);
  at::Tensor means = torch::stack({angle.cos(), angle.sin()}, 1) * radius;
  return GaussianMixture(means, torch::full({num_modes}, std, torch::kFloat64),
                         torch::ones({num_modes}, torch::kFloat64),
                         torch::arange(num_modes, torch::kLong));
}

}  // namespace diffuse
