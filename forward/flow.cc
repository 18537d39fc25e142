// Forward "flow": rectified flow (Liu et al. 2022) / flow matching with the linear path,
// x_t = (1 - t) x0 + t eps, a Gaussian family with alpha = 1 - t, sigma = t.
#include <memory>

#include <torch/types.h>

#include "forward/forward_process.h"
#include "forward/gaussian.h"
#include "forward/gaussian_families.pb.h"
#include "pipeline/registry.h"

namespace diffuse {
namespace {

class FlowCoefficients : public GaussianCoefficients {
 public:
  double Alpha(double t) const override { return 1.0 - Check(t); }
  double Sigma(double t) const override { return Check(t); }
  at::Tensor Alpha(const at::Tensor& t) const override { return 1.0 - t.to(torch::kFloat64); }
  at::Tensor Sigma(const at::Tensor& t) const override { return t.to(torch::kFloat64); }

 private:
  static double Check(double t) {
    TORCH_CHECK(t >= 0 && t <= 1, "time ", t, " is outside [0, 1]");
    return t;
  }
};

class Flow : public ForwardProcess {
 public:
  DataKind data_kind() const override { return DataKind::kContinuous; }
  TimeDomain time_domain() const override { return {false, 0}; }
  at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const override {
    return GaussianApply(coefficients_, x0, t, eps);
  }
  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return noise.Normal(shape);
  }
  bool IsInvertible() const override { return true; }
  at::Tensor InvertNoise(const at::Tensor& x0, const at::Tensor& x_t,
                         const Time& t) const override {
    return GaussianInvertNoise(coefficients_, x0, x_t, t);
  }
  bool NoiseIsStandardNormal() const override { return true; }
  const GaussianCoefficients* gaussian() const override { return &coefficients_; }
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const override {
    return noise.Normal(shape);
  }

 private:
  FlowCoefficients coefficients_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const FlowOptions&, const BuildContext&) {
  return std::unique_ptr<ForwardProcess>(new Flow);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "flow", FlowOptions, Make);

}  // namespace diffuse
