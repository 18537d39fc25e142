// 8-bit RGB PNG output (libpng), written atomically.
#ifndef DIFFUSE_UTIL_PNG_H_
#define DIFFUSE_UTIL_PNG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace diffuse {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // row-major RGB, 3 * width * height

  RgbImage(int w, int h, uint8_t fill) : width(w), height(h), pixels(3 * w * h, fill) {}
  void Set(int x, int y, uint8_t r, uint8_t g, uint8_t b);  // ignores out-of-range pixels
};

absl::StatusOr<std::string> EncodePng(const RgbImage& image);
absl::Status WritePng(const std::string& path, const RgbImage& image);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_PNG_H_
