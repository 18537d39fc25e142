// A forward operator that wraps another and changes only part of it (truncated, shifted):
// every method delegates to the inner operator unless overridden.
#ifndef DIFFUSE_FORWARD_FORWARD_WRAPPER_H_
#define DIFFUSE_FORWARD_FORWARD_WRAPPER_H_

#include <memory>

#include "forward/forward_process.h"

namespace diffuse {

class ForwardWrapper : public ForwardProcess {
 public:
  explicit ForwardWrapper(std::unique_ptr<ForwardProcess> inner) : inner_(std::move(inner)) {}

  DataKind data_kind() const override { return inner_->data_kind(); }
  TimeDomain time_domain() const override { return inner_->time_domain(); }
  TimeDomain network_time_domain() const override { return inner_->network_time_domain(); }
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
  const DeletionCoefficients* deletion() const override { return inner_->deletion(); }
  at::Tensor Offset(const Condition& condition) const override { return inner_->Offset(condition); }
  bool HasOffset() const override { return inner_->HasOffset(); }
  bool HasDataFreeTerminal() const override { return inner_->HasDataFreeTerminal(); }
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const override {
    return inner_->SampleTerminal(shape, noise);
  }

 protected:
  const ForwardProcess& inner() const { return *inner_; }

 private:
  std::unique_ptr<ForwardProcess> inner_;
};

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_FORWARD_WRAPPER_H_
