#include "forward/gaussian_vp.h"

#include <cmath>
#include <vector>

#include <torch/types.h>

#include "forward/gaussian.h"
#include "forward/vp_schedules.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class VpCoefficients : public GaussianCoefficients {
 public:
  explicit VpCoefficients(const std::vector<double>& alpha_bars) {
    for (double ab : alpha_bars) {
      alpha_.push_back(std::sqrt(ab));
      sigma_.push_back(std::sqrt(1 - ab));
    }
    alpha_table_ = torch::tensor(alpha_, torch::kFloat64);
    sigma_table_ = torch::tensor(sigma_, torch::kFloat64);
  }
  double Alpha(double t) const override { return alpha_[Index(t)]; }
  double Sigma(double t) const override { return sigma_[Index(t)]; }
  at::Tensor Alpha(const at::Tensor& t) const override {
    return alpha_table_.index_select(0, t.to(torch::kLong));
  }
  at::Tensor Sigma(const at::Tensor& t) const override {
    return sigma_table_.index_select(0, t.to(torch::kLong));
  }

 private:
  size_t Index(double t) const {
    const long step = std::lround(t);
    TORCH_CHECK(step >= 0 && static_cast<size_t>(step) < alpha_.size(),
                "time ", t, " is outside 0..", alpha_.size() - 1);
    return static_cast<size_t>(step);
  }
  std::vector<double> alpha_, sigma_;
  at::Tensor alpha_table_, sigma_table_;
};

class GaussianVp : public ForwardProcess {
 public:
  GaussianVp(int64_t num_steps, const std::vector<double>& alpha_bars)
      : num_steps_(num_steps), coefficients_(alpha_bars) {}

  DataKind data_kind() const override { return DataKind::kContinuous; }
  TimeDomain time_domain() const override { return {true, num_steps_}; }
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
  // alpha_bar_T is ~4e-5 for the default schedules: x_T is taken as N(0, I), as in DDPM.
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const override {
    return noise.Normal(shape);
  }

 private:
  int64_t num_steps_;
  VpCoefficients coefficients_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ForwardProcess>> MakeGaussianVp(
    const GaussianVpOptions& options) {
  ABSL_RETURN_IF_ERROR(CheckInRange("num_steps", options.num_steps(), 1, 100000));
  std::vector<double> betas;
  switch (options.schedule()) {
    case GaussianVpOptions::LINEAR:
    case GaussianVpOptions::SCALED_LINEAR:
      ABSL_RETURN_IF_ERROR(CheckInRange("beta_start", options.beta_start(), 1e-12, 0.999999));
      ABSL_RETURN_IF_ERROR(CheckInRange("beta_end", options.beta_end(), 1e-12, 0.999999));
      betas = options.schedule() == GaussianVpOptions::LINEAR
                  ? LinearBetas(options.num_steps(), options.beta_start(), options.beta_end())
                  : ScaledLinearBetas(options.num_steps(), options.beta_start(),
                                      options.beta_end());
      break;
    case GaussianVpOptions::COSINE:
      ABSL_RETURN_IF_ERROR(CheckInRange("cosine_offset", options.cosine_offset(), 0, 1));
      ABSL_RETURN_IF_ERROR(CheckInRange("max_beta", options.max_beta(), 1e-12, 1));
      betas = CosineBetas(options.num_steps(), options.cosine_offset(), options.max_beta());
      break;
  }
  return std::unique_ptr<ForwardProcess>(
      new GaussianVp(options.num_steps(), AlphaBars(betas)));
}

namespace {
absl::StatusOr<std::unique_ptr<ForwardProcess>> Factory(const GaussianVpOptions& options,
                                                        const BuildContext&) {
  return MakeGaussianVp(options);
}
}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "gaussian_vp", GaussianVpOptions, Factory);

}  // namespace diffuse
