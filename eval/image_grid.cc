#include "eval/image_grid.h"

#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "util/png.h"

namespace diffuse {

absl::Status WriteImageGridPng(const std::string& path, const at::Tensor& images, int zoom,
                               int columns) {
  if (images.dim() != 4 || (images.size(1) != 1 && images.size(1) != 3)) {
    return absl::InvalidArgumentError("image grids need [N, 1 or 3, H, W] samples");
  }
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const int64_t cols = columns > 0 ? columns
                                    : static_cast<int64_t>(std::ceil(std::sqrt(static_cast<double>(n))));
  const int64_t rows = (n + cols - 1) / cols;
  const int border = 2;
  const at::Tensor pixels =
      ((images.to(at::kFloat).clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).contiguous();
  const uint8_t* p = pixels.data_ptr<uint8_t>();
  RgbImage grid(static_cast<int>(cols * (w * zoom + border) + border),
                static_cast<int>(rows * (h * zoom + border) + border), 255);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t x0 = border + (i % cols) * (w * zoom + border);
    const int64_t y0 = border + (i / cols) * (h * zoom + border);
    for (int64_t y = 0; y < h * zoom; ++y) {
      for (int64_t x = 0; x < w * zoom; ++x) {
        const int64_t at = ((i * c) * h + y / zoom) * w + x / zoom;
        const uint8_t r = p[at], g = p[at + (c == 3 ? h * w : 0)], b = p[at + (c == 3 ? 2 * h * w : 0)];
        grid.Set(static_cast<int>(x0 + x), static_cast<int>(y0 + y), r, g, b);
      }
    }
  }
  return WritePng(path, grid);
}

}  // namespace diffuse
