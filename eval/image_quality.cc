#include "eval/image_quality.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/randperm.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/fashion_mnist_files.h"
#include "util/status_macros.h"

namespace diffuse {

absl::StatusOr<ImageQuality> EvaluateImages(FashionClassifierImpl& classifier,
                                            const at::Tensor& samples, const at::Tensor& labels,
                                            const FeatureStatistics& reference) {
  if (samples.dim() != 4 || samples.size(1) != 1 || samples.size(2) != 28 ||
      samples.size(3) != 28) {
    return absl::InvalidArgumentError(absl::StrCat(
        "samples must be [N, 1, 28, 28] Fashion-MNIST images, got ", c10::str(samples.sizes())));
  }
  if (labels.defined() && (labels.dim() != 1 || labels.size(0) != samples.size(0))) {
    return absl::InvalidArgumentError(absl::StrCat("labels must be [", samples.size(0),
                                                   "], got ", c10::str(labels.sizes())));
  }
  const ClassifierOutputs out = Classify(classifier, samples.to(at::kFloat));
  ABSL_ASSIGN_OR_RETURN(FeatureStatistics s, ComputeFeatureStatistics(out.features));
  ImageQuality q;
  q.count = samples.size(0);
  ABSL_ASSIGN_OR_RETURN(q.frechet_distance, FrechetDistance(s, reference));
  if (labels.defined()) {
    const at::Tensor conditional = labels.ge(0).nonzero().squeeze(1);
    if (conditional.numel() > 0) {
      q.accuracy = ClassifierAccuracy(out.logits.index_select(0, conditional),
                                      labels.index_select(0, conditional));
    }
  }
  return q;
}

absl::StatusOr<std::string> ImageQualityReport(FashionClassifierImpl& classifier,
                                               const std::string& data_dir,
                                               const at::Tensor& samples,
                                               const at::Tensor& labels,
                                               const std::string& name) {
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit test, ReadFashionMnist(data_dir, false));
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit train, ReadFashionMnist(data_dir, true));
  const ClassifierOutputs test_out = Classify(classifier, FashionMnistToFloat(test.images));
  ABSL_ASSIGN_OR_RETURN(FeatureStatistics reference, ComputeFeatureStatistics(test_out.features));
  ABSL_ASSIGN_OR_RETURN(ImageQuality q, EvaluateImages(classifier, samples, labels, reference));
  // The floor: as many real training images (a seeded draw), with their true labels.
  at::Generator gen = at::detail::createCPUGenerator(1);
  const at::Tensor index = at::randperm(train.images.size(0), gen, at::kLong)
                               .slice(0, 0, samples.size(0));
  ABSL_ASSIGN_OR_RETURN(
      ImageQuality real,
      EvaluateImages(classifier, FashionMnistToFloat(train.images.index_select(0, index)),
                     train.labels.index_select(0, index), reference));
  const double test_accuracy = ClassifierAccuracy(test_out.logits, test.labels);
  auto row = [](const std::string& label, const ImageQuality& m) {
    return absl::StrFormat("%-34s %6d %10s %18.3f\n", label, m.count,
                           m.accuracy < 0 ? "-" : absl::StrFormat("%.4f", m.accuracy),
                           m.frechet_distance);
  };
  return absl::StrCat(
      absl::StrFormat("evaluation classifier: test accuracy %.4f; Frechet distance of its %d "
                      "features to the %d test images (not the Inception FID)\n",
                      test_accuracy, kFashionClassifierFeatures, test.images.size(0)),
      absl::StrFormat("%-34s %6s %10s %18s\n", "", "n", "accuracy", "Frechet (features)"),
      row("real training images (floor)", real), row(name, q));
}

}  // namespace diffuse
