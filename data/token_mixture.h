// A mixture of product-categorical distributions over token sequences,
//   p(x) = sum_c pi_c prod_l P[c, l, x_l],   x in {0..K-1}^L,
// the token-data counterpart of the Gaussian mixture: exact samples, exact log-probabilities
// and the exact posterior of x0 under any factorized corruption, so discrete samplers can be
// tested with no training.
#ifndef DIFFUSE_DATA_TOKEN_MIXTURE_H_
#define DIFFUSE_DATA_TOKEN_MIXTURE_H_

#include <cstdint>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "data/dataset.h"

namespace diffuse {

class TokenMixture {
 public:
  // weights: [M] summing to 1; probs: [M, L, K], each row summing to 1 (float64).
  TokenMixture(at::Tensor weights, at::Tensor probs);
  // Equal weights; P[c, l] = softmax(sharpness * g), g ~ N(0, 1), seeded.
  static TokenMixture Random(int64_t components, int64_t length, int64_t classes,
                             double sharpness, uint64_t seed);

  int64_t num_components() const { return weights_.size(0); }
  int64_t length() const { return probs_.size(1); }
  int64_t num_classes() const { return probs_.size(2); }

  // n exact draws: x int64 [n, L], label = the component drawn.
  DataBatch Sample(int64_t n, at::Generator& generator) const;
  // log p(x) for x int64 [n, L]: float64 [n].
  at::Tensor LogProb(const at::Tensor& x) const;
  // p(x0_l = k | x_t) for a corruption that acts on each token independently, given
  // likelihood[b, l, k] = q(x_t[b, l] | x0_l = k): float64 [B, L, K]. A defined label
  // restricts to that component (-1: all).
  at::Tensor Posterior(const at::Tensor& likelihood, const at::Tensor& label) const;

 private:
  at::Tensor weights_;  // [M]
  at::Tensor probs_;    // [M, L, K]
};

}  // namespace diffuse

#endif  // DIFFUSE_DATA_TOKEN_MIXTURE_H_
