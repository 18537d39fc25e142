// Data "eight_gaussians": the labelled ring of Gaussians; its exact distribution is known.
#include <memory>

#include <torch/types.h>

#include "data/dataset.h"
#include "data/gaussian_mixture.h"
#include "data/toy_data.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class EightGaussiansData : public Dataset {
 public:
  explicit EightGaussiansData(GaussianMixture mixture) : mixture_(std::move(mixture)) {}
  std::vector<int64_t> sample_shape() const override { return {2}; }
  int64_t num_classes() const override { return mixture_.num_classes(); }
  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    at::Tensor component;
    at::Tensor x = mixture_.Sample(batch, generator, &component);
    return {x, mixture_.labels().index_select(0, component)};
  }
  const GaussianMixture* mixture() const override { return &mixture_; }

 private:
  GaussianMixture mixture_;
};

absl::StatusOr<std::unique_ptr<Dataset>> Make(const EightGaussiansOptions& options,
                                              const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("radius", options.radius(), 1e-9, 100));
  ABSL_RETURN_IF_ERROR(CheckInRange("std", options.std(), 1e-9, 10));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_modes", options.num_modes(), 1, 64));
  return std::unique_ptr<Dataset>(new EightGaussiansData(
      EightGaussians(options.radius(), options.std(), options.num_modes())));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "eight_gaussians", EightGaussiansOptions, Make);

}  // namespace diffuse
