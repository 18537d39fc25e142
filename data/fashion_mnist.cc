// Data "fashion_mnist": see FashionMnistOptions in toy_data.proto.
#include <memory>

#include <torch/torch.h>

#include "data/dataset.h"
#include "data/fashion_mnist_files.h"
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
    at::Tensor x = FashionMnistToFloat(images_.index_select(0, index));
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
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit split,
                        ReadFashionMnist(o.dir(), o.split() == FashionMnistOptions::TRAIN));
  return std::unique_ptr<Dataset>(
      new FashionMnist(std::move(split.images), std::move(split.labels), o.horizontal_flip()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "fashion_mnist", FashionMnistOptions, Make);

}  // namespace diffuse
