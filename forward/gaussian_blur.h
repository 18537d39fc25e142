// Separable Gaussian blur of images, as a free function (the blur forward process and its
// tests call it).
#ifndef DIFFUSE_FORWARD_GAUSSIAN_BLUR_H_
#define DIFFUSE_FORWARD_GAUSSIAN_BLUR_H_

#include <ATen/core/Tensor.h>

namespace diffuse {

// x [B, C, H, W] blurred with a Gaussian of std `sigma` pixels (kernel radius ceil(3 sigma),
// normalized; replicate padding, so constant images stay constant). sigma <= 0: x itself.
at::Tensor GaussianBlur(const at::Tensor& x, double sigma);

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_GAUSSIAN_BLUR_H_
