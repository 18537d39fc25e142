#include "data/fashion_mnist_files.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>

#include "absl/strings/str_cat.h"
#include "data/idx_file.h"
#include "util/status_macros.h"

namespace diffuse {

absl::StatusOr<FashionMnistSplit> ReadFashionMnist(const std::string& dir, bool train) {
  const std::string prefix = absl::StrCat(dir, "/", train ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  ABSL_ASSIGN_OR_RETURN(IdxArray images, ReadIdxFile(images_path));
  ABSL_ASSIGN_OR_RETURN(IdxArray labels, ReadIdxFile(labels_path));
  if (images.dims.size() != 3 || images.dims[1] != 28 || images.dims[2] != 28) {
    return absl::DataLossError(absl::StrCat(images_path, ": not [N, 28, 28] images"));
  }
  if (labels.dims.size() != 1 || labels.dims[0] != images.dims[0]) {
    return absl::DataLossError(
        absl::StrCat(labels_path, ": ", labels.dims.empty() ? 0 : labels.dims[0],
                     " labels for ", images.dims[0], " images"));
  }
  const int64_t n = images.dims[0];
  FashionMnistSplit split;
  split.images = at::from_blob(images.data.data(), {n, 1, 28, 28}, at::kByte).clone();
  split.labels = at::from_blob(labels.data.data(), {n}, at::kByte).to(at::kLong);
  if (split.labels.max().item<int64_t>() > 9) {
    return absl::DataLossError(absl::StrCat(labels_path, ": labels outside 0..9"));
  }
  return split;
}

at::Tensor FashionMnistToFloat(const at::Tensor& images) {
  return images.to(at::kFloat).div_(127.5).sub_(1.0);
}

at::Tensor FashionMnistToGreyLevels(const at::Tensor& images, int64_t levels) {
  return images.to(at::kLong).mul_(levels).div_(256, "floor");
}

at::Tensor GreyLevelsToFloat(const at::Tensor& tokens, int64_t levels) {
  return tokens.to(at::kFloat).mul_(2).add_(1).div_(double(levels)).sub_(1.0);
}

}  // namespace diffuse
