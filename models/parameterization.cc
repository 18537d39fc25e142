#include "models/parameterization.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/ones_like.h>

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
    case EDM:
      break;  // needs sigma_data: EdmPreconditioning
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
    case EDM:
      break;  // needs sigma_data: EdmPreconditioning
  }
  TORCH_CHECK(false, "unknown parameterization ", static_cast<int>(kind));
}

at::Tensor X0LossScale(Parameterization kind, const at::Tensor& alpha, const at::Tensor& sigma,
                       double sigma_data) {
  switch (kind) {
    case EPS:
      return (alpha / sigma).pow(2);
    case X0:
      return at::ones_like(alpha);
    case V:
      return (alpha * alpha + sigma * sigma).pow(2) / (sigma * sigma);
    case EDM:
      return EdmPreconditioning(alpha, sigma, sigma_data).c_out.pow(-2);
  }
  TORCH_CHECK(false, "unknown parameterization ", static_cast<int>(kind));
}

EdmScalings EdmPreconditioning(const at::Tensor& alpha, const at::Tensor& sigma,
                               double sigma_data) {
  const double sd2 = sigma_data * sigma_data;
  // sigma_tilde^2 + sd^2 = (sigma^2 + alpha^2 sd^2) / alpha^2.
  const at::Tensor norm = (sigma * sigma + alpha * alpha * sd2).sqrt();
  return {alpha * sd2 / (norm * norm), sigma * sigma_data / norm, 1 / norm,
          ((sigma.log() - alpha.log()) / 4).nan_to_num(0).clamp(-10, 10)};
}

}  // namespace diffuse
