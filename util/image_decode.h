// Decoding PNG (libpng: 1-16 bit grey, grey + alpha, palette, RGB, RGBA, tRNS) and JPEG
// (libjpeg-turbo: grey, YCbCr, CMYK refused) into floats in [0, 1], keeping 16-bit
// precision. Errors name the file: empty, truncated or corrupt data, an unknown format.
#ifndef DIFFUSE_UTIL_IMAGE_DECODE_H_
#define DIFFUSE_UTIL_IMAGE_DECODE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace diffuse {

struct DecodedImage {
  int width = 0, height = 0;
  // 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; a palette or tRNS chunk is expanded (to 3 or 4).
  int channels = 0;
  std::vector<float> pixels;  // row-major, interleaved, channels * width * height, in [0, 1]
  float at(int x, int y, int c) const {
    return pixels[(static_cast<size_t>(y) * width + x) * channels + c];
  }
};

// The largest width or height accepted (a header may claim more than the file holds).
inline constexpr int kMaxImageSide = 16384;

// Decodes `bytes` (PNG or JPEG, told apart by their signatures); `name` is the file named in
// errors. INVALID_ARGUMENT for empty, truncated, corrupt or unsupported data.
absl::StatusOr<DecodedImage> DecodeImage(absl::string_view bytes, const std::string& name);

// Reads and decodes the file at `path`.
absl::StatusOr<DecodedImage> ReadImage(const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_IMAGE_DECODE_H_
