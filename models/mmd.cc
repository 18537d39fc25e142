#include "models/mmd.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/exp.h>

namespace diffuse {
namespace {

at::Tensor Kernel(const at::Tensor& a, const at::Tensor& b, MmdKernel kernel) {
  const double scale = 2.0 * a.size(1);
  // ||a_i - b_j||^2 exactly (cdist's matrix-product shortcut loses precision near 0).
  const at::Tensor d2 = (a.unsqueeze(1) - b.unsqueeze(0)).square().sum(-1);
  return kernel == MmdKernel::kRbf ? at::exp(-d2 / scale) : scale / (scale + d2);
}

// The mean of k over pairs i != j.
at::Tensor OffDiagonalMean(const at::Tensor& k) {
  const int64_t n = k.size(0);
  return (k.sum() - k.diagonal().sum()) / (n * (n - 1));
}

}  // namespace

at::Tensor MmdSquared(const at::Tensor& x, const at::Tensor& y, MmdKernel kernel) {
  return OffDiagonalMean(Kernel(x, x, kernel)) + OffDiagonalMean(Kernel(y, y, kernel)) -
         2 * Kernel(x, y, kernel).mean();
}

}  // namespace diffuse
