// Data "two_moons": sklearn's make_moons, centred at the origin and scaled by 2.
#include <cmath>
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/stack.h>

#include "data/dataset.h"
#include "data/two_moons.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class TwoMoonsData : public Dataset {
 public:
  explicit TwoMoonsData(double noise) : noise_(noise) {}
  std::vector<int64_t> sample_shape() const override { return {2}; }
  int64_t num_classes() const override { return 2; }
  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    at::Tensor label = at::randint(0, 2, {batch}, generator, at::kLong);
    at::Tensor theta = at::rand({batch}, generator, at::kDouble) * M_PI;
    at::Tensor upper = label.eq(0).to(at::kDouble);
    // Upper moon (cos, sin); lower moon (1 - cos, 0.5 - sin); centre (0.5, 0.25).
    at::Tensor x = upper * theta.cos() + (1 - upper) * (1 - theta.cos()) - 0.5;
    at::Tensor y = upper * theta.sin() + (1 - upper) * (0.5 - theta.sin()) - 0.25;
    at::Tensor points = at::stack({x, y}, 1) * 2.0 +
                        noise_ * at::randn({batch, 2}, generator, at::kDouble);
    return {points.to(at::kFloat), label};
  }

 private:
  double noise_;
};

absl::StatusOr<std::unique_ptr<Dataset>> Make(const TwoMoonsOptions& options,
                                              const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("noise", options.noise(), 0, 10));
  return std::unique_ptr<Dataset>(new TwoMoonsData(options.noise()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "two_moons", TwoMoonsOptions, Make);

}  // namespace diffuse
