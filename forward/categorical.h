// Math of factorized categorical processes (CategoricalCoefficients, forward_process.h):
//   Qbar_t[i, j] = q(x_t = j | x0 = i) = keep(t) delta_ij + (1 - keep(t)) m_j,
//   Q(s, t)[i, j] = q(x_t = j | x_s = i) = r delta_ij + (1 - r) m_j,  r = keep(t) / keep(s),
// so Qbar_s Q(s, t) = Qbar_t (Austin et al. 2021, D3PM, sec. 3; Hoogeboom et al. 2021 for
// the uniform case). Tokens are int64 tensors of any shape; probabilities are float64 with
// a trailing class dimension.
#ifndef DIFFUSE_FORWARD_CATEGORICAL_H_
#define DIFFUSE_FORWARD_CATEGORICAL_H_

#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"
#include "forward/time.h"
#include "random/noise_source.h"

namespace diffuse {

// keep(t) / keep(s) for s <= t; 1 where keep(s) = 0 (both states already stationary).
double CategoricalRetention(const CategoricalCoefficients& c, double s, double t);

// Q(s, t) as a float64 [S, S] matrix (Qbar_t = Q(0, t) restricted to the K data rows).
at::Tensor CategoricalTransition(const CategoricalCoefficients& c, double s, double t);

// x_t = F_t(x0, u) with u ~ U(0, 1) per entry: x0 where u < keep(t), else the state with
// CDF position (u - keep) / (1 - keep) under m. x0 int64 [B, ...]; returns int64.
at::Tensor CategoricalApply(const CategoricalCoefficients& c, const at::Tensor& x0,
                            const Time& t, const at::Tensor& u);

// q(x_t | x0 = k) for each data class k: float64 [..., K] for x_t int64 [...].
at::Tensor CategoricalLikelihood(const CategoricalCoefficients& c, const at::Tensor& x_t,
                                 const Time& t);

// p(x_s = j | x_t) = sum_i p0(i) q(x_s = j | x_t, x0 = i) for x0 probabilities p0 [..., K]
// (D3PM's x0-parameterized posterior). Classes with q(x_t | x0 = i) = 0 are impossible and
// dropped, p0 renormalized over the rest (uniform over them if p0 gives them no mass).
// Returns float64 [..., S]; s < t.
at::Tensor CategoricalPosterior(const CategoricalCoefficients& c, const at::Tensor& x_t,
                                const at::Tensor& p0, double t, double s);

// One draw per row of probs [..., S] (inverse CDF of a uniform): int64 [...].
at::Tensor SampleCategorical(const at::Tensor& probs, NoiseSource& noise);

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_CATEGORICAL_H_
