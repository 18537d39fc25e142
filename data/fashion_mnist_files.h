// A whole Fashion-MNIST split read from the gzipped IDX files of Debian's
// dataset-fashion-mnist package (used by data "fashion_mnist" and by the evaluation
// classifier, which needs every test image in order).
#ifndef DIFFUSE_DATA_FASHION_MNIST_FILES_H_
#define DIFFUSE_DATA_FASHION_MNIST_FILES_H_

#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace diffuse {

inline constexpr char kFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

struct FashionMnistSplit {
  at::Tensor images;  // [N, 1, 28, 28] uint8
  at::Tensor labels;  // [N] int64 in [0, 10)
};

// Reads `dir`/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz. NOT_FOUND / DATA_LOSS name
// the file at fault (missing, truncated, wrong shape, label count or label range).
absl::StatusOr<FashionMnistSplit> ReadFashionMnist(const std::string& dir, bool train);

// uint8 images to float32 in [-1, 1], the scaling every pipeline trains on.
at::Tensor FashionMnistToFloat(const at::Tensor& images);

// uint8 images to K grey levels, int64 tokens floor(v K / 256) in [0, K) (K in [2, 256]),
// for token diffusion on pixels (masking with a categorical x0-predictor).
at::Tensor FashionMnistToGreyLevels(const at::Tensor& images, int64_t levels);

// Grey-level tokens k back to float32 in [-1, 1]: the centre of the k-th of K equal bins,
// (2k + 1) / K - 1.
at::Tensor GreyLevelsToFloat(const at::Tensor& tokens, int64_t levels);

}  // namespace diffuse

#endif  // DIFFUSE_DATA_FASHION_MNIST_FILES_H_
