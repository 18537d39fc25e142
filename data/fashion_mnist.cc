// Data "fashion_mnist": see FashionMnistOptions in fashion_mnist.proto.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/where.h>

#include "data/dataset.h"
#include "data/fashion_captions.h"
#include "data/fashion_mnist_files.h"
#include "data/fashion_mnist.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class FashionMnist : public Dataset {
 public:
  FashionMnist(at::Tensor images, at::Tensor labels, bool flip, int64_t grey_levels)
      : images_(std::move(images)), labels_(std::move(labels)), flip_(flip),
        grey_levels_(grey_levels) {}

  std::vector<int64_t> sample_shape() const override { return {1, 28, 28}; }
  int64_t num_token_classes() const override { return grey_levels_; }
  int64_t num_classes() const override { return 10; }

  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    const at::Tensor index = at::randint(0, images_.size(0), {batch}, generator, at::kLong);
    const at::Tensor images = images_.index_select(0, index);
    at::Tensor x = grey_levels_ > 0 ? FashionMnistToGreyLevels(images, grey_levels_)
                                    : FashionMnistToFloat(images);
    if (flip_) {
      const at::Tensor flip = at::rand({batch}, generator).lt(0.5).view({batch, 1, 1, 1});
      x = at::where(flip, x.flip({3}), x);
    }
    return {x, labels_.index_select(0, index)};
  }

  // Captions are measured on real values; grey-level tokens have none.
  const Captioner* captioner() const override {
    return grey_levels_ > 0 ? nullptr : &captioner_;
  }

  at::Tensor Decode(const at::Tensor& samples) const override {
    return grey_levels_ > 0 ? GreyLevelsToFloat(samples, grey_levels_) : samples;
  }

 private:
  at::Tensor images_;  // [N, 1, 28, 28] uint8
  at::Tensor labels_;  // [N] int64
  bool flip_;
  int64_t grey_levels_;  // 0: real-valued
  FashionCaptioner captioner_;
};

absl::StatusOr<std::unique_ptr<Dataset>> Make(const FashionMnistOptions& o, const BuildContext&) {
  if (o.grey_levels() != 0) {
    ABSL_RETURN_IF_ERROR(CheckInRange("grey_levels", o.grey_levels(), 2, 256));
  }
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit split,
                        ReadFashionMnist(o.dir(), o.split() == FashionMnistOptions::TRAIN));
  return std::unique_ptr<Dataset>(
      new FashionMnist(std::move(split.images), std::move(split.labels), o.horizontal_flip(),
                      o.grey_levels()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "fashion_mnist", FashionMnistOptions, Make);

}  // namespace diffuse
