// From a decoded picture to a training image: alpha composited over a background colour,
// grey or RGB, centre-cropped to a square, and resized with the area (box) filter, each
// output pixel the exact area-weighted mean of the input pixels under it (OpenCV's
// INTER_AREA when shrinking; no ringing, no aliasing of fine texture).
#ifndef DIFFUSE_DATA_IMAGE_PREPROCESS_H_
#define DIFFUSE_DATA_IMAGE_PREPROCESS_H_

#include <array>
#include <vector>

#include "util/image_decode.h"

namespace diffuse {

struct ImagePreparation {
  int size = 32;     // output width and height
  int channels = 3;  // 1 (ITU-R 601 luma: 0.299 R + 0.587 G + 0.114 B) or 3
  std::array<float, 3> background = {1, 1, 1};  // RGB in [0, 1] under transparent pixels
  bool center_crop = true;  // else the whole picture is resized to a square
};

// Planar [channels, size, size] values in [0, 1].
std::vector<float> PrepareImage(const DecodedImage& image, const ImagePreparation& preparation);

// Area resize of planar [channels, height, width] to [channels, out_height, out_width].
std::vector<float> AreaResize(const std::vector<float>& planar, int channels, int height,
                              int width, int out_height, int out_width);

}  // namespace diffuse

#endif  // DIFFUSE_DATA_IMAGE_PREPROCESS_H_
