// Forward "gaussian_ve": variance exploding, x_t = x0 + sigma(t) eps with geometric sigma
// (Song et al. 2021, eq. 31). x_1 ~ N(x0, sigma_max^2 I), drawn as sigma_max * N(0, I).
#include <cmath>
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/ones_like.h>

#include "forward/forward_process.h"
#include "forward/gaussian.h"
#include "forward/gaussian_ve.pb.h"
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
    return at::ones_like(t, at::kDouble);
  }
  at::Tensor Sigma(const at::Tensor& t) const override {
    return EvaluatePerSample(t, [this](double v) { return Sigma(v); });
  }

 private:
  double sigma_min_, log_ratio_;
};

class GaussianVe : public GaussianForward {
 public:
  GaussianVe(double sigma_min, double sigma_max)
      : GaussianForward({false, 0}, sigma_max), coefficients_(sigma_min, sigma_max) {}

 protected:
  const GaussianCoefficients& coefficients() const override { return coefficients_; }

 private:
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
