// Forward "gaussian_ve": variance exploding, x_t = x0 + sigma(t) eps with geometric sigma
// (Song et al. 2021, eq. 31). x_1 ~ N(x0, sigma_max^2 I), drawn as sigma_max * N(0, I).
#include <cmath>
#include <memory>

#include <torch/types.h>

#include "forward/forward_process.h"
#include "forward/gaussian.h"
#include "forward/gaussian_families.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class VeCoefficients : public GaussianCoefficients {
 public:
  VeCoefficients(double sigma_min, double sigma_max)
      : sigma_min_(sigma_min), log_ratio_(std::log(sigma_max / sigma_min)) {}
  double Alpha(double) const override { return 1.0; }
  double Sigma(double t) const override {
    TORCH_CHECK(t >= 0 && t <= 1, "time ", t, " is outside [0, 1]");
    return t == 0 ? 0.0 : sigma_min_ * std::exp(log_ratio_ * t);
  }
  at::Tensor Alpha(const at::Tensor& t) const override {
    return torch::ones_like(t, torch::kFloat64);
  }
  at::Tensor Sigma(const at::Tensor& t) const override {
    return EvaluatePerSample(t, [this](double v) { return Sigma(v); });
  }

 private:
  double sigma_min_, log_ratio_;
};

class GaussianVe : public ForwardProcess {
 public:
  GaussianVe(double sigma_min, double sigma_max)
      : sigma_max_(sigma_max), coefficients_(sigma_min, sigma_max) {}
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
    return noise.Normal(shape) * sigma_max_;
  }

 private:
  double sigma_max_;
  VeCoefficients coefficients_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const GaussianVeOptions& o,
                                                     const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("sigma_min", o.sigma_min(), 1e-12, 1e4));
  ABSL_RETURN_IF_ERROR(CheckInRange("sigma_max", o.sigma_max(), 1e-12, 1e4));
  if (!(o.sigma_min() < o.sigma_max())) {
    return absl::InvalidArgumentError("option sigma_min must be < sigma_max");
  }
  return std::unique_ptr<ForwardProcess>(new GaussianVe(o.sigma_min(), o.sigma_max()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "gaussian_ve", GaussianVeOptions, Make);

}  // namespace diffuse
