// Image samples as a PNG grid.
#ifndef DIFFUSE_EVAL_IMAGE_GRID_H_
#define DIFFUSE_EVAL_IMAGE_GRID_H_

#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"

namespace diffuse {

// images [N, C, H, W] with values in [-1, 1] (clamped), C = 1 (grey) or 3 (RGB), tiled
// row-major into `columns` columns (0: ceil(sqrt(N))) with a 2-pixel border, each pixel
// scaled by `zoom`.
absl::Status WriteImageGridPng(const std::string& path, const at::Tensor& images, int zoom = 2,
                               int columns = 0);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_IMAGE_GRID_H_
