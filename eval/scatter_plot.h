// A 2-D scatter plot as a PNG: reference points (e.g. exact samples) in light grey under
// the samples, coloured by label (or blue when unlabelled), axes through the origin.
#ifndef DIFFUSE_EVAL_SCATTER_PLOT_H_
#define DIFFUSE_EVAL_SCATTER_PLOT_H_

#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"

namespace diffuse {

// samples and reference are [N, 2]; labels [N] int64 or undefined.
absl::Status WriteScatterPng(const std::string& path, const at::Tensor& samples,
                             const at::Tensor& labels, const at::Tensor& reference,
                             int size = 640);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_SCATTER_PLOT_H_
