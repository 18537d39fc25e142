#include "forward/categorical.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/searchsorted.h>
#include <ATen/ops/where.h>

#include "forward/gaussian.h"

namespace diffuse {
namespace {

// keep(t) as a float64 tensor broadcastable against `like` (0-dim or [B, 1, ...]).
at::Tensor KeepTensor(const CategoricalCoefficients& c, const Time& t, const at::Tensor& like) {
  if (t.is_shared()) return at::scalar_tensor(c.Keep(t.shared()), at::kDouble);
  return BroadcastPerSample(
      EvaluatePerSample(t.per_sample(), [&c](double v) { return c.Keep(v); }),
      like.to(at::kDouble));
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
  return r * at::eye(n, at::kDouble) + (1 - r) * c.Stationary().unsqueeze(0).expand({n, n});
}

at::Tensor CategoricalApply(const CategoricalCoefficients& c, const at::Tensor& x0,
                            const Time& t, const at::Tensor& u) {
  const at::Tensor keep = KeepTensor(c, t, x0);
  const at::Tensor u64 = u.to(at::kDouble);
  const at::Tensor position = ((u64 - keep) / (1 - keep).clamp_min(1e-300)).clamp(0, 1);
  // The state whose CDF interval under m contains the position: a binary search in m's CDF.
  const at::Tensor cdf = c.Stationary().cumsum(0);
  const at::Tensor replacement =
      at::searchsorted(cdf, position.expand(x0.sizes()).contiguous(), /*out_int32=*/false,
                          /*right=*/true)
          .clamp_max(c.num_states() - 1);
  return at::where(u64.lt(keep), x0, replacement);
}

namespace {

// [..., n] float64 indicator of x == j for j < n.
at::Tensor OneHot(const at::Tensor& x, int64_t n) {
  return x.unsqueeze(-1).eq(at::arange(n, at::kLong)).to(at::kDouble);
}

}  // namespace

at::Tensor CategoricalLikelihood(const CategoricalCoefficients& c, const at::Tensor& x_t,
                                 const Time& t) {
  const at::Tensor keep = KeepTensor(c, t, x_t).unsqueeze(-1);
  const at::Tensor m_of_x = c.Stationary().index({x_t}).unsqueeze(-1);
  return keep * OneHot(x_t, c.num_classes()) + (1 - keep) * m_of_x;
}

at::Tensor CategoricalPosterior(const CategoricalCoefficients& c, const at::Tensor& x_t,
                                const at::Tensor& p0, double t, double s) {
  const int64_t k = c.num_classes(), n = c.num_states();
  const at::Tensor m = c.Stationary();
  const at::Tensor m_of_x = m.index({x_t}).unsqueeze(-1);
  const double keep_t = c.Keep(t), keep_s = c.Keep(s);
  const at::Tensor likelihood = keep_t * OneHot(x_t, k) + (1 - keep_t) * m_of_x;
  const at::Tensor possible = likelihood.gt(0);
  // sum_i p0(i) q(x_s | x0 = i) q(x_t | x_s) / q(x_t | x0 = i), over possible i; where p0
  // puts no mass on any possible class, all possible classes weigh the same.
  at::Tensor prior = p0.to(at::kDouble).masked_fill(~possible, 0);
  prior = at::where(prior.sum(-1, true).gt(0), prior, possible.to(at::kDouble));
  const at::Tensor weight = prior / likelihood.clamp_min(1e-300);
  // weight Qbar_s = keep_s weight (padded to S states) + (1 - keep_s) sum(weight) m.
  at::Tensor forward_s = (1 - keep_s) * weight.sum(-1, true) * m;
  forward_s.slice(-1, 0, k).add_(weight, keep_s);
  const double r = CategoricalRetention(c, s, t);
  const at::Tensor to_x_t = r * OneHot(x_t, n) + (1 - r) * m_of_x;
  const at::Tensor joint = forward_s.mul_(to_x_t);
  return joint / joint.sum(-1, /*keepdim=*/true).clamp_min(1e-300);
}

at::Tensor SampleCategorical(const at::Tensor& probs, NoiseSource& noise) {
  // One uniform per entry of a sample, drawn from that sample's own stream.
  const at::Tensor u = noise.Uniform(probs.sizes().slice(0, probs.dim() - 1)).to(at::kDouble);
  return InverseCdf(probs / probs.sum(-1, true), u);
}

}  // namespace diffuse
