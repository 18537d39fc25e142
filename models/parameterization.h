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

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_PARAMETERIZATION_H_
