#include "data/token_mixture.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>
#include <ATen/ops/logsumexp.h>
#include <ATen/ops/multinomial.h>
#include <ATen/ops/one_hot.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/softmax.h>

namespace diffuse {

TokenMixture::TokenMixture(at::Tensor weights, at::Tensor probs)
    : weights_(weights.to(at::kDouble)), probs_(probs.to(at::kDouble)) {}

TokenMixture TokenMixture::Random(int64_t components, int64_t length, int64_t classes,
                                  double sharpness, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor g = at::randn({components, length, classes}, gen, at::kDouble);
  return TokenMixture(at::full({components}, 1.0 / components, at::kDouble),
                      at::softmax(sharpness * g, -1));
}

DataBatch TokenMixture::Sample(int64_t n, at::Generator& generator) const {
  const at::Tensor component = at::multinomial(weights_, n, /*replacement=*/true, generator);
  const at::Tensor rows = probs_.index_select(0, component).reshape({-1, num_classes()});
  const at::Tensor x = at::multinomial(rows, 1, true, generator).view({n, length()});
  return {x, component};
}

at::Tensor TokenMixture::LogProb(const at::Tensor& x) const {
  // log P[c, l, x_l] summed over l: [n, M].
  const at::Tensor per_token =
      probs_.log().unsqueeze(0).expand({x.size(0), -1, -1, -1})
          .gather(3, x.view({x.size(0), 1, length(), 1}).expand({-1, num_components(), -1, 1}))
          .squeeze(3);
  return at::logsumexp(per_token.sum(2) + weights_.log(), 1);
}

at::Tensor TokenMixture::Posterior(const at::Tensor& likelihood, const at::Tensor& label) const {
  // joint[b, c, l, k] = P[c, l, k] q(x_t,l | k); evidence[b, c, l] = its sum over k.
  const at::Tensor joint = probs_.unsqueeze(0) * likelihood.to(at::kDouble).unsqueeze(1);
  const at::Tensor evidence = joint.sum(3);
  at::Tensor log_weight = evidence.clamp_min(1e-300).log().sum(2) + weights_.log();  // [B, M]
  if (label.defined()) {
    const at::Tensor chosen = at::one_hot(label.clamp_min(0), num_components()).to(at::kBool);
    const at::Tensor restrict = chosen | label.lt(0).unsqueeze(1);
    log_weight = log_weight.masked_fill(~restrict, -INFINITY);
  }
  const at::Tensor component = at::softmax(log_weight, 1);  // p(c | x_t)
  const at::Tensor per_component = joint / evidence.clamp_min(1e-300).unsqueeze(3);
  return (component.view({-1, num_components(), 1, 1}) * per_component).sum(1);
}

}  // namespace diffuse
