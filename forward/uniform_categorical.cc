// Forward "uniform_categorical": see uniform_categorical.proto.
#include <cmath>
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>

#include "forward/categorical.h"
#include "forward/uniform_categorical.pb.h"
#include "forward/forward_process.h"
#include "forward/keep_schedule.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class UniformCategorical : public ForwardProcess, public CategoricalCoefficients {
 public:
  explicit UniformCategorical(const UniformCategoricalOptions& options) : options_(options) {}

  DataKind data_kind() const override { return DataKind::kTokens; }
  TimeDomain time_domain() const override { return {true, options_.num_steps()}; }

  int64_t num_classes() const override { return options_.num_classes(); }
  int64_t num_states() const override { return options_.num_classes(); }
  double Keep(double t) const override {
    return KeepSchedule(t, options_.num_steps(),
                        options_.schedule() == UniformCategoricalOptions::COSINE);
  }
  at::Tensor Stationary() const override {
    return at::full({num_states()}, 1.0 / num_states(), at::kDouble);
  }
  const CategoricalCoefficients* categorical() const override { return this; }

  at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const override {
    return CategoricalApply(*this, x0, t, eps);
  }
  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return noise.Uniform(shape);
  }
  at::Tensor InvertNoise(const at::Tensor&, const at::Tensor&, const Time&) const override {
    TORCH_CHECK(false, "uniform_categorical is not invertible in eps");
  }
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const override {
    return (noise.Uniform(shape) * num_classes()).to(at::kLong).clamp_max(num_classes() - 1);
  }

 private:
  UniformCategoricalOptions options_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const UniformCategoricalOptions& o,
                                                     const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("num_classes", o.num_classes(), 2, 100000));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_steps", o.num_steps(), 1, 10000));
  return std::unique_ptr<ForwardProcess>(new UniformCategorical(o));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "uniform_categorical", UniformCategoricalOptions,
                           Make);

}  // namespace diffuse
