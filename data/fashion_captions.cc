#include "data/fashion_captions.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/constant_pad_nd.h>
#include <ATen/ops/stack.h>

namespace diffuse {

const double kFashionAttributeMedians[10][3] = {
    {0.543367, 0.639216, 0.266493}, {0.317602, 0.695327, 0.419402},
    {0.610969, 0.655914, 0.294886}, {0.390306, 0.687846, 0.337897},
    {0.574617, 0.724441, 0.301619}, {0.244898, 0.516823, 0.545885},
    {0.590561, 0.580751, 0.289473}, {0.283163, 0.584964, 0.428130},
    {0.536990, 0.686892, 0.321521}, {0.429847, 0.702440, 0.344254}};

at::Tensor FashionAttributes(const at::Tensor& x) {
  const at::Tensor p = (x.detach().to(at::kDouble) + 1) / 2;  // [B, 1, H, W] in [0, 1]
  const at::Tensor ink = p.gt(0.1).to(at::kDouble);
  const at::Tensor count = ink.sum({1, 2, 3}).clamp_min(1);
  const at::Tensor area = ink.mean({1, 2, 3});
  const at::Tensor brightness = (p * ink).sum({1, 2, 3}) / count;
  // 4 p - (up + down + left + right), zero outside the image.
  const at::Tensor padded = at::constant_pad_nd(p, {1, 1, 1, 1}, 0);
  const int64_t h = p.size(2), w = p.size(3);
  const at::Tensor laplacian = 4 * p - padded.slice(2, 0, h).slice(3, 1, w + 1) -
                               padded.slice(2, 2, h + 2).slice(3, 1, w + 1) -
                               padded.slice(2, 1, h + 1).slice(3, 0, w) -
                               padded.slice(2, 1, h + 1).slice(3, 2, w + 2);
  const at::Tensor texture = (laplacian.abs() * ink).sum({1, 2, 3}) / count;
  return at::stack({area, brightness, texture}, 1);
}

std::vector<std::string> FashionCaptioner::vocabulary() const {
  std::vector<std::string> words(kFashionClassWords.begin(), kFashionClassWords.end());
  for (const auto& pair : kFashionAttributeWords) words.insert(words.end(), pair.begin(), pair.end());
  return words;
}

std::vector<std::vector<std::string>> FashionCaptioner::Caption(const at::Tensor& x,
                                                                const at::Tensor& label) const {
  const at::Tensor stats = FashionAttributes(x).contiguous();
  const at::Tensor labels = label.to(at::kLong).contiguous();
  const double* s = stats.data_ptr<double>();
  const int64_t* y = labels.data_ptr<int64_t>();
  std::vector<std::vector<std::string>> captions(labels.size(0));
  for (int64_t i = 0; i < labels.size(0); ++i) {
    TORCH_CHECK(y[i] >= 0 && y[i] < 10, "Fashion-MNIST label ", y[i], " is not in [0, 10)");
    captions[i].push_back(kFashionClassWords[y[i]]);
    for (int a = 0; a < 3; ++a) {
      captions[i].push_back(
          kFashionAttributeWords[a][s[3 * i + a] > kFashionAttributeMedians[y[i]][a]]);
    }
  }
  return captions;
}

}  // namespace diffuse
