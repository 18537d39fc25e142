// Forward "deletion": see deletion.proto.
#include "forward/deletion.h"

#include <cmath>
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/full.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/where.h>

#include "absl/strings/str_cat.h"
#include "forward/deletion.pb.h"
#include "forward/forward_process.h"
#include "forward/gaussian.h"
#include "forward/keep_schedule.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {

at::Tensor PackSurvivors(const at::Tensor& x, const at::Tensor& keep, int64_t marker) {
  const int64_t length = x.size(1);
  // Survivors first, each group in its original order: sort by (deleted, position).
  const at::Tensor position = at::arange(length, at::kLong).unsqueeze(0);
  const at::Tensor order = ((~keep).to(at::kLong) * length + position).argsort(/*dim=*/int64_t{1});
  const at::Tensor packed = x.gather(1, order);
  const at::Tensor count = keep.sum(1, /*keepdim=*/true);
  return at::where(position < count, packed, at::full_like(packed, marker));
}

namespace {

class Deletion : public ForwardProcess, public DeletionCoefficients {
 public:
  explicit Deletion(const DeletionOptions& options) : options_(options) {}

  DataKind data_kind() const override { return DataKind::kTokens; }
  TimeDomain time_domain() const override { return {true, options_.num_steps()}; }
  absl::Status CheckSampleShape(at::IntArrayRef shape) const override {
    if (shape.size() != 1) {
      return absl::InvalidArgumentError("deletion needs token sequences of shape [L]");
    }
    return absl::OkStatus();
  }

  double Keep(double t) const override {
    return KeepSchedule(t, options_.num_steps(), options_.schedule() == DeletionOptions::COSINE);
  }
  int64_t num_classes() const override { return options_.num_classes(); }

  at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const override {
    const at::Tensor keep =
        t.is_shared()
            ? at::scalar_tensor(Keep(t.shared()), at::kDouble)
            : BroadcastPerSample(
                  EvaluatePerSample(t.per_sample(), [this](double v) { return Keep(v); }),
                  eps.to(at::kDouble));
    const at::Tensor survives = eps.to(at::kDouble).lt(keep) & x0.lt(options_.num_classes());
    return PackSurvivors(x0, survives, options_.num_classes());
  }
  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return noise.Uniform(shape);
  }
  at::Tensor InvertNoise(const at::Tensor&, const at::Tensor&, const Time&) const override {
    TORCH_CHECK(false, "deletion is not invertible in eps");
  }
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource&) const override {
    return at::full(shape, options_.num_classes(), at::kLong);
  }
  const DeletionCoefficients* deletion() const override { return this; }

 private:
  DeletionOptions options_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const DeletionOptions& o,
                                                     const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("num_classes", o.num_classes(), 2, 100000));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_steps", o.num_steps(), 1, 10000));
  return std::unique_ptr<ForwardProcess>(new Deletion(o));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "deletion", DeletionOptions, Make);

}  // namespace diffuse
