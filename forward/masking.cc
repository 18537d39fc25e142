// Forward "masking": absorbing-state corruption; see masking.proto.
#include <cmath>
#include <memory>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>
#include <ATen/ops/full_like.h>
#include <ATen/ops/randperm.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>

#include "forward/categorical.h"
#include "forward/forward_process.h"
#include "forward/gaussian.h"
#include "forward/keep_schedule.h"
#include "forward/masking.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Masking : public ForwardProcess,
                public AbsorbingCoefficients,
                public CategoricalCoefficients {
 public:
  explicit Masking(const MaskingOptions& options) : options_(options) {}

  bool tokens() const { return options_.num_classes() > 0; }
  DataKind data_kind() const override {
    return tokens() ? DataKind::kTokens : DataKind::kContinuous;
  }
  TimeDomain time_domain() const override { return {true, options_.num_steps()}; }

  double Keep(double t) const override {
    return KeepSchedule(t, options_.num_steps(), options_.schedule() == MaskingOptions::COSINE);
  }
  double MaskValue() const override {
    return tokens() ? options_.num_classes() : options_.mask_value();
  }
  int64_t num_classes() const override { return options_.num_classes(); }
  int64_t num_states() const override { return options_.num_classes() + 1; }
  at::Tensor Stationary() const override {
    at::Tensor m = at::zeros({num_states()}, at::kDouble);
    m[num_classes()] = 1.0;
    return m;
  }
  const CategoricalCoefficients* categorical() const override {
    return tokens() ? this : nullptr;
  }
  const AbsorbingCoefficients* absorbing() const override {
    return options_.deterministic() ? nullptr : this;
  }

  at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const override {
    if (tokens()) return CategoricalApply(*this, x0, t, eps);
    const at::Tensor keep =
        t.is_shared()
            ? at::scalar_tensor(Keep(t.shared()), at::kFloat)
            : BroadcastPerSample(
                  EvaluatePerSample(t.per_sample(), [this](double v) { return Keep(v); }), x0);
    const at::Tensor u = options_.deterministic() ? Ranking(x0) : eps;
    const at::Tensor masked = at::where(u.lt(keep), x0, at::full_like(x0, MaskValue()));
    return options_.deterministic() ? masked + eps : masked;
  }

  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return options_.deterministic() ? at::zeros(shape) : noise.Uniform(shape);
  }

  bool IsInvertible() const override { return options_.deterministic(); }
  // Deterministic masking: the residual x_t - F_t(x0, 0).
  at::Tensor InvertNoise(const at::Tensor& x0, const at::Tensor& x_t,
                         const Time& t) const override {
    TORCH_CHECK(options_.deterministic(), "random masking is not invertible in eps");
    return x_t - Apply(x0, t, at::zeros_like(x0));
  }

  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource&) const override {
    // keep(T) = 0: everything is masked.
    return tokens() ? at::full(shape, num_classes(), at::kLong)
                    : at::full(shape, MaskValue());
  }

 private:
  // A fixed ranking in (0, 1) of the positions of one sample, broadcast over the batch.
  at::Tensor Ranking(const at::Tensor& like) const {
    const int64_t n = like[0].numel();
    if (ranking_.numel() != n) {
      at::Generator gen = at::detail::createCPUGenerator(options_.order_seed());
      ranking_ = ((at::randperm(n, gen, at::kLong).to(at::kFloat) + 0.5) / n)
                     .view(like[0].sizes());
    }
    return ranking_.unsqueeze(0).expand_as(like);
  }

  MaskingOptions options_;
  mutable at::Tensor ranking_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const MaskingOptions& o,
                                                     const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("num_steps", o.num_steps(), 1, 10000));
  if (!std::isfinite(o.mask_value())) {
    return absl::InvalidArgumentError("option mask_value must be finite");
  }
  ABSL_RETURN_IF_ERROR(CheckInRange("num_classes", o.num_classes(), 0, 100000));
  if (o.num_classes() > 0 && o.deterministic()) {
    return absl::InvalidArgumentError(
        "options num_classes > 0 (tokens) and deterministic are incompatible: token masks "
        "are random");
  }
  return std::unique_ptr<ForwardProcess>(new Masking(o));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "masking", MaskingOptions, Make);

}  // namespace diffuse
