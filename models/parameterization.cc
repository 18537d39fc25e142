#include "models/parameterization.h"

#include <torch/types.h>

namespace diffuse {

at::Tensor OutputToX0(Parameterization kind, const at::Tensor& out, const at::Tensor& x_t,
                      const at::Tensor& alpha, const at::Tensor& sigma) {
  switch (kind) {
    case EPS:
      return (x_t - sigma * out) / alpha;
    case X0:
      return out;
    case V:
      return (alpha * x_t - sigma * out) / (alpha * alpha + sigma * sigma);
  }
  TORCH_CHECK(false, "unknown parameterization ", static_cast<int>(kind));
}

at::Tensor TrainingTarget(Parameterization kind, const at::Tensor& x0, const at::Tensor& eps,
                          const at::Tensor& alpha, const at::Tensor& sigma) {
  switch (kind) {
    case EPS:
      return eps;
    case X0:
      return x0;
    case V:
      return alpha * eps - sigma * x0;
  }
  TORCH_CHECK(false, "unknown parameterization ", static_cast<int>(kind));
}

}  // namespace diffuse
