#include "forward/gaussian_blur.h"

#include <algorithm>
#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/conv2d.h>
#include <ATen/ops/replication_pad2d.h>

namespace diffuse {

at::Tensor GaussianBlur(const at::Tensor& x, double sigma) {
  if (sigma <= 0) return x;
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  at::Tensor k = at::arange(-radius, radius + 1, x.options()).div(sigma).pow(2).mul(-0.5).exp();
  k = k / k.sum();
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor y = at::replication_pad2d(x.reshape({b * c, 1, h, w}),
                                          {radius, radius, radius, radius});
  y = at::conv2d(at::conv2d(y, k.view({1, 1, 1, -1})), k.view({1, 1, -1, 1}));
  return y.view({b, c, h, w});
}

}  // namespace diffuse
