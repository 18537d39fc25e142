// Data "eight_gaussians": the labelled ring of Gaussians; its exact distribution is known.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "data/gaussian_mixture.h"
#include "data/mixture_dataset.h"
#include "data/eight_gaussians.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

absl::StatusOr<std::unique_ptr<Dataset>> Make(const EightGaussiansOptions& options,
                                              const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("radius", options.radius(), 1e-9, 100));
  ABSL_RETURN_IF_ERROR(CheckInRange("std", options.std(), 1e-9, 10));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_modes", options.num_modes(), 1, 64));
  return std::unique_ptr<Dataset>(new MixtureDataset(
      EightGaussians(options.radius(), options.std(), options.num_modes())));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "eight_gaussians", EightGaussiansOptions, Make);

}  // namespace diffuse
