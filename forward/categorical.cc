#include "forward/categorical.h"

#include <torch/torch.h>

#include "forward/gaussian.h"

namespace diffuse {
namespace {

// keep(t) as a float64 tensor broadcastable against `like` (0-dim or [B, 1, ...]).
at::Tensor KeepTensor(const CategoricalCoefficients& c, const Time& t, const at::Tensor& like) {
  if (t.is_shared()) return torch::scalar_tensor(c.Keep(t.shared()), torch::kFloat64);
  return BroadcastPerSample(
      EvaluatePerSample(t.per_sample(), [&c](double v) { return c.Keep(v); }),
      like.to(torch::kFloat64));
}

// The state whose CDF interval under probs [..., S] contains v [...].
at::Tensor InverseCdf(const at::Tensor& probs, const at::Tensor& v) {
  const at::Tensor cdf = probs.cumsum(-1);
  const int64_t last = probs.size(-1) - 1;
  return cdf.le(v.unsqueeze(-1)).sum(-1).clamp_max(last);
}

}  // namespace

double CategoricalRetention(const CategoricalCoefficients& c, double s, double t) {
  const double keep_s = c.Keep(s);
  return keep_s > 0 ? c.Keep(t) / keep_s : 1.0;
}

at::Tensor CategoricalTransition(const CategoricalCoefficients& c, double s, double t) {
  const double r = CategoricalRetention(c, s, t);
  const int64_t n = c.num_states();
  return r * torch::eye(n, torch::kFloat64) + (1 - r) * c.Stationary().unsqueeze(0).expand({n, n});
}

at::Tensor CategoricalApply(const CategoricalCoefficients& c, const at::Tensor& x0,
                            const Time& t, const at::Tensor& u) {
  const at::Tensor keep = KeepTensor(c, t, x0);
  const at::Tensor u64 = u.to(torch::kFloat64);
  const at::Tensor position = ((u64 - keep) / (1 - keep).clamp_min(1e-300)).clamp(0, 1);
  const at::Tensor replacement =
      InverseCdf(c.Stationary().expand({x0.numel(), c.num_states()}),
                 position.expand(x0.sizes()).reshape({-1}))
          .view(x0.sizes());
  return torch::where(u64.lt(keep), x0, replacement);
}

at::Tensor CategoricalLikelihood(const CategoricalCoefficients& c, const at::Tensor& x_t,
                                 const Time& t) {
  const at::Tensor keep = KeepTensor(c, t, x_t).unsqueeze(-1);
  const at::Tensor one_hot =
      torch::one_hot(x_t, c.num_states()).slice(-1, 0, c.num_classes()).to(torch::kFloat64);
  const at::Tensor m_of_x = c.Stationary().index({x_t}).unsqueeze(-1);
  return keep * one_hot + (1 - keep) * m_of_x;
}

at::Tensor CategoricalPosterior(const CategoricalCoefficients& c, const at::Tensor& x_t,
                                const at::Tensor& p0, double t, double s) {
  const int64_t k = c.num_classes(), n = c.num_states();
  const at::Tensor likelihood = CategoricalLikelihood(c, x_t, t);
  const at::Tensor possible = likelihood.gt(0);
  // sum_i p0(i) q(x_s | x0 = i) q(x_t | x_s) / q(x_t | x0 = i), over possible i; where p0
  // puts no mass on any possible class, all possible classes weigh the same.
  at::Tensor prior = torch::where(possible, p0.to(torch::kFloat64), torch::zeros_like(likelihood));
  prior = torch::where(prior.sum(-1, true).gt(0), prior, possible.to(torch::kFloat64));
  const at::Tensor weight = prior / likelihood.clamp_min(1e-300);
  const at::Tensor marginal_s = CategoricalTransition(c, 0, s).slice(0, 0, k);  // [K, S]
  const at::Tensor forward_s = torch::matmul(weight, marginal_s);               // [..., S]
  const double r = CategoricalRetention(c, s, t);
  const at::Tensor to_x_t = r * torch::one_hot(x_t, n).to(torch::kFloat64) +
                            (1 - r) * c.Stationary().index({x_t}).unsqueeze(-1);
  const at::Tensor joint = forward_s * to_x_t;
  return joint / joint.sum(-1, /*keepdim=*/true).clamp_min(1e-300);
}

at::Tensor SampleCategorical(const at::Tensor& probs, NoiseSource& noise) {
  // One uniform per entry of a sample, drawn from that sample's own stream.
  const at::Tensor u = noise.Uniform(probs.sizes().slice(0, probs.dim() - 1)).to(torch::kFloat64);
  return InverseCdf(probs / probs.sum(-1, true), u);
}

}  // namespace diffuse
