// Captions of Fashion-MNIST images: the class word and three attribute words measured from
// the pixels, each relative to the image's class (the class's median over the 60,000
// training images), so that every class holds both words of every attribute about equally
// often:
//   small / large         ink area: the fraction of pixels brighter than 0.1 (on [0, 1])
//   dark / light          ink brightness: the mean of those pixels
//   plain / patterned     texture: the mean |discrete Laplacian| over those pixels
#ifndef DIFFUSE_DATA_FASHION_CAPTIONS_H_
#define DIFFUSE_DATA_FASHION_CAPTIONS_H_

#include <array>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/captioner.h"

namespace diffuse {

// Fashion-MNIST's classes as caption words, in label order.
inline const std::array<const char*, 10> kFashionClassWords = {
    "tshirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt",   "sneaker",  "bag",   "boot"};

// The attribute words in FashionAttributes' column order: {at or below the class median,
// above it}.
inline const std::array<std::array<const char*, 2>, 3> kFashionAttributeWords = {
    {{"small", "large"}, {"dark", "light"}, {"plain", "patterned"}}};

// The three attribute statistics of images x [B, 1, H, W] in [-1, 1]: [B, 3] float64
// columns area, brightness, texture.
at::Tensor FashionAttributes(const at::Tensor& x);

// Per-class medians of FashionAttributes over the training split (measured once, checked
// against the files by fashion_captions_test): [10][3].
extern const double kFashionAttributeMedians[10][3];

class FashionCaptioner : public Captioner {
 public:
  std::vector<std::string> vocabulary() const override;
  // [class word, small|large, dark|light, plain|patterned] per image.
  std::vector<std::vector<std::string>> Caption(const at::Tensor& x,
                                                const at::Tensor& label) const override;
};

}  // namespace diffuse

#endif  // DIFFUSE_DATA_FASHION_CAPTIONS_H_
