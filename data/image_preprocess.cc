#include "data/image_preprocess.h"

#include <algorithm>

namespace diffuse {
namespace {

// Weights [out, in] of the 1-D area filter: the overlap of input pixel i, [i, i + 1), with
// output pixel o's footprint [o s, (o + 1) s), s = in / out, divided by s.
std::vector<double> AreaWeights(int in, int out) {
  std::vector<double> w(static_cast<size_t>(out) * in, 0.0);
  const double s = static_cast<double>(in) / out;
  for (int o = 0; o < out; ++o) {
    const double begin = o * s, end = (o + 1) * s;
    for (int i = std::max(0, static_cast<int>(begin)); i < in && i < end; ++i) {
      const double overlap = std::min<double>(end, i + 1) - std::max<double>(begin, i);
      if (overlap > 0) w[static_cast<size_t>(o) * in + i] = overlap / s;
    }
  }
  return w;
}

}  // namespace

std::vector<float> AreaResize(const std::vector<float>& planar, int channels, int height,
                              int width, int out_height, int out_width) {
  const std::vector<double> wy = AreaWeights(height, out_height);
  const std::vector<double> wx = AreaWeights(width, out_width);
  std::vector<float> out(static_cast<size_t>(channels) * out_height * out_width);
  std::vector<double> rows(static_cast<size_t>(out_height) * width);
  for (int c = 0; c < channels; ++c) {
    const float* in = planar.data() + static_cast<size_t>(c) * height * width;
    std::fill(rows.begin(), rows.end(), 0.0);
    for (int o = 0; o < out_height; ++o) {
      for (int y = 0; y < height; ++y) {
        const double w = wy[static_cast<size_t>(o) * height + y];
        if (w == 0) continue;
        for (int x = 0; x < width; ++x) rows[static_cast<size_t>(o) * width + x] += w * in[y * width + x];
      }
    }
    for (int o = 0; o < out_height; ++o) {
      for (int p = 0; p < out_width; ++p) {
        double sum = 0;
        for (int x = 0; x < width; ++x) {
          sum += wx[static_cast<size_t>(p) * width + x] * rows[static_cast<size_t>(o) * width + x];
        }
        out[(static_cast<size_t>(c) * out_height + o) * out_width + p] = static_cast<float>(sum);
      }
    }
  }
  return out;
}

std::vector<float> PrepareImage(const DecodedImage& image, const ImagePreparation& p) {
  // Crop window.
  int x0 = 0, y0 = 0, w = image.width, h = image.height;
  if (p.center_crop && w != h) {
    const int side = std::min(w, h);
    x0 = (w - side) / 2;
    y0 = (h - side) / 2;
    w = h = side;
  }
  const bool colour = image.channels >= 3;
  const bool alpha = image.channels == 2 || image.channels == 4;
  std::vector<float> planar(static_cast<size_t>(p.channels) * w * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      float rgb[3];
      for (int c = 0; c < 3; ++c) rgb[c] = image.at(x0 + x, y0 + y, colour ? c : 0);
      if (alpha) {
        const float a = image.at(x0 + x, y0 + y, image.channels - 1);
        for (int c = 0; c < 3; ++c) rgb[c] = a * rgb[c] + (1 - a) * p.background[c];
      }
      const size_t at = static_cast<size_t>(y) * w + x;
      if (p.channels == 1) {
        planar[at] = colour || alpha ? 0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]
                                     : rgb[0];
      } else {
        for (int c = 0; c < 3; ++c) planar[static_cast<size_t>(c) * w * h + at] = rgb[c];
      }
    }
  }
  if (w == p.size && h == p.size) return planar;
  return AreaResize(planar, p.channels, h, w, p.size, p.size);
}

}  // namespace diffuse
