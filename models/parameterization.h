// Conversions between a network's output and x0 / its training target (see
// parameterization.proto). alpha and sigma broadcast against x (numbers as 0-dim tensors or
// per-sample [B, 1, ...] tensors of x's dtype).
#ifndef DIFFUSE_MODELS_PARAMETERIZATION_H_
#define DIFFUSE_MODELS_PARAMETERIZATION_H_

#include <ATen/core/Tensor.h>

#include "models/parameterization.pb.h"

namespace diffuse {

// x0 implied by network output `out` at state x_t.
at::Tensor OutputToX0(Parameterization kind, const at::Tensor& out, const at::Tensor& x_t,
                      const at::Tensor& alpha, const at::Tensor& sigma);

// What the network should output for x_t = alpha x0 + sigma eps.
at::Tensor TrainingTarget(Parameterization kind, const at::Tensor& x0, const at::Tensor& eps,
                          const at::Tensor& alpha, const at::Tensor& sigma);

// Loss in `kind` over the squared error of the implied x0 (float64 like alpha, sigma):
// alpha^2 / sigma^2 (EPS), 1 (X0), (alpha^2 + sigma^2)^2 / sigma^2 (V), 1 / c_out^2 (EDM).
at::Tensor X0LossScale(Parameterization kind, const at::Tensor& alpha, const at::Tensor& sigma,
                       double sigma_data);

// EDM preconditioning (Karras et al. 2022, Table 1), for x_t = alpha x0 + sigma eps: with
// x_tilde = x_t / alpha and sigma_tilde = sigma / alpha it is
//   D = c_skip x_tilde + c_out F(c_in x_tilde, c_noise),  c_skip = sd^2 / (st^2 + sd^2),
//   c_out = st sd / sqrt(st^2 + sd^2), c_in = 1 / sqrt(st^2 + sd^2), c_noise = ln(st) / 4,
// written here per x_t (c_skip_x = c_skip / alpha, c_in_x = c_in / alpha) so every factor
// stays finite where alpha = 0; c_noise is clamped to [-10, 10] there.
struct EdmScalings {
  at::Tensor c_skip_x, c_out, c_in_x, c_noise;
};
EdmScalings EdmPreconditioning(const at::Tensor& alpha, const at::Tensor& sigma,
                               double sigma_data);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_PARAMETERIZATION_H_
