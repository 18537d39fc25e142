// Data "fashion_mnist": see FashionMnistOptions in toy_data.proto.
#include <memory>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "data/idx_file.h"
#include "data/toy_data.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class FashionMnist : public Dataset {
 public:
  FashionMnist(at::Tensor images, at::Tensor labels, bool flip)
      : images_(std::move(images)), labels_(std::move(labels)), flip_(flip) {}

  std::vector<int64_t> sample_shape() const override { return {1, 28, 28}; }
  int64_t num_classes() const override { return 10; }

  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    const at::Tensor index = torch::randint(0, images_.size(0), {batch}, generator, torch::kLong);
    at::Tensor x = images_.index_select(0, index).to(torch::kFloat32).div_(127.5).sub_(1.0);
    if (flip_) {
      const at::Tensor flip = torch::rand({batch}, generator).lt(0.5).view({batch, 1, 1, 1});
      x = torch::where(flip, x.flip({3}), x);
    }
    return {x, labels_.index_select(0, index)};
  }

 private:
  at::Tensor images_;  // [N, 1, 28, 28] uint8
  at::Tensor labels_;  // [N] int64
  bool flip_;
};

absl::StatusOr<std::unique_ptr<Dataset>> Make(const FashionMnistOptions& o, const BuildContext&) {
  const std::string prefix =
      absl::StrCat(o.dir(), "/", o.split() == FashionMnistOptions::TRAIN ? "train" : "t10k");
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
  at::Tensor image_tensor = torch::from_blob(images.data.data(), {n, 1, 28, 28}, torch::kUInt8).clone();
  at::Tensor label_tensor = torch::from_blob(labels.data.data(), {n}, torch::kUInt8).to(torch::kLong);
  if (label_tensor.max().item<int64_t>() > 9) {
    return absl::DataLossError(absl::StrCat(labels_path, ": labels outside 0..9"));
  }
  return std::unique_ptr<Dataset>(
      new FashionMnist(std::move(image_tensor), std::move(label_tensor), o.horizontal_flip()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "fashion_mnist", FashionMnistOptions, Make);

}  // namespace diffuse
