// Deterministic inversion x0 -> x_T by running substitution (DDIM eta = 0) forward in time:
//   x_t = F_t(x0_hat(x_s, s), F_s^{-1}(x0_hat(x_s, s), x_s)),  s < t consecutive grid times.
// The first step leaves t = 0, where F_0^{-1} is undefined, so it evaluates the predictor at
// the first grid time (x0 is taken as x_{t_first}, as DDIM inversion does). Used for
// reconstruction, interpolation and editing (Diffusion Autoencoders' stochastic code).
#ifndef DIFFUSE_REVERSE_INVERSION_H_
#define DIFFUSE_REVERSE_INVERSION_H_

#include <vector>

#include <ATen/core/Tensor.h>

#include "reverse/sampler.h"

namespace diffuse {

// `times` is a sampling grid (descending); inversion walks it in reverse from t = 0 and
// returns the state at times[0]. Precondition: the forward process is invertible.
at::Tensor InvertToNoise(const SamplingComponents& components, const at::Tensor& x0,
                         const std::vector<double>& times, const Condition& condition);

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_INVERSION_H_
