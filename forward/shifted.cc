// Forward "shifted": see shifted.proto.
#include <memory>

#include "absl/strings/str_cat.h"
#include "forward/forward_process.h"
#include "forward/shifted.pb.h"
#include "models/x0_predictor.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Shifted : public ForwardProcess {
 public:
  explicit Shifted(std::unique_ptr<ForwardProcess> inner) : inner_(std::move(inner)) {}

  at::Tensor Offset(const Condition& condition) const override {
    TORCH_CHECK(condition.image.defined(),
                "forward 'shifted' needs x_hat in Condition::image (supplied by the prior)");
    return condition.image;
  }
  bool HasOffset() const override { return true; }

  DataKind data_kind() const override { return inner_->data_kind(); }
  TimeDomain time_domain() const override { return inner_->time_domain(); }
  absl::Status CheckSampleShape(at::IntArrayRef shape) const override {
    return inner_->CheckSampleShape(shape);
  }
  at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const override {
    return inner_->Apply(x0, t, eps);
  }
  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return inner_->SampleNoise(shape, noise);
  }
  bool IsInvertible() const override { return inner_->IsInvertible(); }
  at::Tensor InvertNoise(const at::Tensor& x0, const at::Tensor& x_t,
                         const Time& t) const override {
    return inner_->InvertNoise(x0, x_t, t);
  }
  bool NoiseIsStandardNormal() const override { return inner_->NoiseIsStandardNormal(); }
  const GaussianCoefficients* gaussian() const override { return inner_->gaussian(); }
  const AbsorbingCoefficients* absorbing() const override { return inner_->absorbing(); }
  const CategoricalCoefficients* categorical() const override { return inner_->categorical(); }
  bool HasDataFreeTerminal() const override { return inner_->HasDataFreeTerminal(); }
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const override {
    return inner_->SampleTerminal(shape, noise);
  }

 private:
  std::unique_ptr<ForwardProcess> inner_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const ShiftedOptions& o,
                                                     const BuildContext& context) {
  if (!o.has_inner()) return absl::InvalidArgumentError("option inner is required");
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<ForwardProcess> inner,
                        Registry<ForwardProcess>::Global().Create(o.inner(), "inner", context));
  if (inner->data_kind() != DataKind::kContinuous) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option inner: '", o.inner().name(), "' works on tokens; a shift needs real values"));
  }
  return std::unique_ptr<ForwardProcess>(new Shifted(std::move(inner)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "shifted", ShiftedOptions, Make);

}  // namespace diffuse
