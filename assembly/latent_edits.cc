#include "assembly/latent_edits.h"

#include <cmath>

#include <torch/optim/lbfgs.h>
#include <torch/types.h>

namespace diffuse {

at::Tensor Lerp(const at::Tensor& a, const at::Tensor& b, const at::Tensor& weights) {
  std::vector<int64_t> shape(a.dim() + 1, 1);
  shape[0] = weights.size(0);
  const at::Tensor w = weights.to(a.scalar_type()).view(shape);
  return (1 - w) * a.unsqueeze(0) + w * b.unsqueeze(0);
}

at::Tensor Slerp(const at::Tensor& a, const at::Tensor& b, const at::Tensor& weights) {
  const at::Tensor fa = a.flatten().to(torch::kFloat64), fb = b.flatten().to(torch::kFloat64);
  const double cos = (fa.dot(fb) / (fa.norm() * fb.norm())).item<double>();
  const double theta = std::acos(std::clamp(cos, -1.0, 1.0));
  if (std::sin(theta) < 1e-6) return Lerp(a, b, weights);
  const at::Tensor w = weights.to(torch::kFloat64);
  const at::Tensor ca = torch::sin((1 - w) * theta) / std::sin(theta);
  const at::Tensor cb = torch::sin(w * theta) / std::sin(theta);
  std::vector<int64_t> shape(a.dim() + 1, 1);
  shape[0] = weights.size(0);
  return (ca.view(shape) * a.to(torch::kFloat64).unsqueeze(0) +
          cb.view(shape) * b.to(torch::kFloat64).unsqueeze(0))
      .to(a.scalar_type());
}

at::Tensor LatentDirection::Move(const at::Tensor& z, double scale) const {
  const at::Tensor unit = weight / weight.norm();
  return (z.to(torch::kFloat64) + scale * std * unit).to(z.scalar_type());
}

at::Tensor LatentDirection::Probability(const at::Tensor& z) const {
  return torch::sigmoid(torch::mv((z.to(torch::kFloat64) - mean) / std, weight) + bias);
}

LatentDirection FitLatentDirection(const at::Tensor& z, const at::Tensor& y, double l2) {
  LatentDirection d;
  const at::Tensor x = z.to(torch::kFloat64);
  d.mean = x.mean(0);
  d.std = x.std(0).clamp_min(1e-8);
  const at::Tensor xs = (x - d.mean) / d.std;
  const at::Tensor target = y.to(torch::kFloat64);
  at::Tensor w = torch::zeros({x.size(1)}, torch::kFloat64).requires_grad_(true);
  at::Tensor b = torch::zeros({1}, torch::kFloat64).requires_grad_(true);
  torch::optim::LBFGS optimizer({w, b}, torch::optim::LBFGSOptions(1).max_iter(200).line_search_fn("strong_wolfe"));
  auto closure = [&]() {
    optimizer.zero_grad();
    const at::Tensor loss =
        torch::binary_cross_entropy_with_logits(torch::mv(xs, w) + b, target) +
        l2 * w.pow(2).sum();
    loss.backward();
    return loss;
  };
  optimizer.step(closure);
  d.weight = w.detach();
  d.bias = b.item<double>();
  d.train_accuracy =
      (d.Probability(z).gt(0.5) == target.gt(0.5)).to(torch::kFloat64).mean().item<double>();
  return d;
}

}  // namespace diffuse
