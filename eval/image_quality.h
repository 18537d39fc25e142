// Quality of generated Fashion-MNIST images as seen by the evaluation classifier
// (eval/fashion_classifier.h): accuracy of class-conditional samples and the Fréchet
// distance of classifier features to the test split — not the Inception FID. The report
// also gives the same figures for n real training images, the floor a perfect generator
// reaches at that sample size.
#ifndef DIFFUSE_EVAL_IMAGE_QUALITY_H_
#define DIFFUSE_EVAL_IMAGE_QUALITY_H_

#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "eval/fashion_classifier.h"
#include "eval/frechet_distance.h"

namespace diffuse {

struct ImageQuality {
  int64_t count = 0;
  double accuracy = -1;  // fraction recognized as their label; -1 without labels
  double frechet_distance = 0;
};

// samples [N, 1, 28, 28] in [-1, 1]; labels [N] int64 (-1: unconditional) or undefined;
// `reference`: the classifier's feature statistics of the images to compare with (the test
// split), computed once by the caller.
absl::StatusOr<ImageQuality> EvaluateImages(FashionClassifierImpl& classifier,
                                            const at::Tensor& samples, const at::Tensor& labels,
                                            const FeatureStatistics& reference);

// A table of EvaluateImages for `samples` and for as many real training images, read from
// `data_dir`.
absl::StatusOr<std::string> ImageQualityReport(FashionClassifierImpl& classifier,
                                               const std::string& data_dir,
                                               const at::Tensor& samples,
                                               const at::Tensor& labels,
                                               const std::string& name);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_IMAGE_QUALITY_H_
