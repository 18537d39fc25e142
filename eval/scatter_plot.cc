#include "eval/scatter_plot.h"

#include <algorithm>
#include <array>
#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "util/png.h"

namespace diffuse {
namespace {

// Tableau-10 palette.
constexpr std::array<std::array<uint8_t, 3>, 10> kPalette = {{{31, 119, 180},
                                                              {255, 127, 14},
                                                              {44, 160, 44},
                                                              {214, 39, 40},
                                                              {148, 103, 189},
                                                              {140, 86, 75},
                                                              {227, 119, 194},
                                                              {127, 127, 127},
                                                              {188, 189, 34},
                                                              {23, 190, 207}}};

}  // namespace

absl::Status WriteScatterPng(const std::string& path, const at::Tensor& samples,
                             const at::Tensor& labels, const at::Tensor& reference, int size) {
  if (samples.dim() != 2 || samples.size(1) != 2) {
    return absl::InvalidArgumentError("scatter plots need [N, 2] samples");
  }
  const at::Tensor s = samples.to(at::kDouble).contiguous();
  const at::Tensor r = reference.defined() ? reference.to(at::kDouble).contiguous() : s;
  const at::Tensor finite = r.abs().masked_fill(~r.isfinite(), 0);
  const double extent = 1.1 * std::max(1e-6, finite.max().item<double>());
  RgbImage image(size, size, 255);
  auto to_pixel = [&](double v) { return static_cast<int>((v / extent + 1) * 0.5 * (size - 1)); };
  for (int i = 0; i < size; ++i) {  // axes
    image.Set(i, size / 2, 220, 220, 220);
    image.Set(size / 2, i, 220, 220, 220);
  }
  auto plot = [&](const at::Tensor& points, const at::Tensor& colour_index, int radius,
                  bool grey) {
    const double* p = points.data_ptr<double>();
    for (int64_t i = 0; i < points.size(0); ++i) {
      if (!std::isfinite(p[2 * i]) || !std::isfinite(p[2 * i + 1])) continue;
      std::array<uint8_t, 3> c = {190, 190, 190};
      if (!grey) {
        c = kPalette[colour_index.defined() ? colour_index[i].item<int64_t>() % 10 : 0];
      }
      const int x = to_pixel(p[2 * i]), y = size - 1 - to_pixel(p[2 * i + 1]);
      for (int dy = -radius; dy <= radius; ++dy) {
        for (int dx = -radius; dx <= radius; ++dx) image.Set(x + dx, y + dy, c[0], c[1], c[2]);
      }
    }
  };
  if (reference.defined()) plot(r, at::Tensor(), 1, true);
  plot(s, labels.defined() ? labels.to(at::kLong).clamp_min(0) : at::Tensor(), 1, false);
  return WritePng(path, image);
}

}  // namespace diffuse
