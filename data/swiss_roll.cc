// Data "swiss_roll": sklearn's make_swiss_roll projected on (x, z), scaled by 1/5.
#include <cmath>
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/stack.h>

#include "data/dataset.h"
#include "data/swiss_roll.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class SwissRollData : public Dataset {
 public:
  explicit SwissRollData(double noise) : noise_(noise) {}
  std::vector<int64_t> sample_shape() const override { return {2}; }
  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    at::Tensor t = 1.5 * M_PI * (1 + 2 * at::rand({batch}, generator, at::kDouble));
    at::Tensor points = at::stack({t * t.cos(), t * t.sin()}, 1) / 5.0 +
                        noise_ * at::randn({batch, 2}, generator, at::kDouble);
    return {points.to(at::kFloat), at::Tensor()};
  }

 private:
  double noise_;
};

absl::StatusOr<std::unique_ptr<Dataset>> Make(const SwissRollOptions& options,
                                              const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("noise", options.noise(), 0, 10));
  return std::unique_ptr<Dataset>(new SwissRollData(options.noise()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "swiss_roll", SwissRollOptions, Make);

}  // namespace diffuse
