#include "forward/gaussian_vp.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "forward/gaussian.h"
#include "forward/vp_schedules.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

constexpr double kMinAlphaBar = 1e-9;

// alpha(t) = sqrt(alpha_bar(t)), sigma(t) = sqrt(1 - alpha_bar(t)).
class VpCoefficients : public GaussianCoefficients {
 public:
  explicit VpCoefficients(std::function<double(double)> alpha_bar)
      : alpha_bar_(std::move(alpha_bar)) {}
  double Alpha(double t) const override { return std::sqrt(alpha_bar_(t)); }
  double Sigma(double t) const override { return std::sqrt(1 - alpha_bar_(t)); }
  at::Tensor Alpha(const at::Tensor& t) const override {
    return EvaluatePerSample(t, [this](double v) { return Alpha(v); });
  }
  at::Tensor Sigma(const at::Tensor& t) const override {
    return EvaluatePerSample(t, [this](double v) { return Sigma(v); });
  }

 private:
  std::function<double(double)> alpha_bar_;
};

// alpha_bar(t_max) is ~4e-5 for the default schedules (0 with zero_terminal_snr): x_T is
// taken as N(0, I), as in DDPM.
class GaussianVp : public GaussianForward {
 public:
  GaussianVp(TimeDomain domain, std::function<double(double)> alpha_bar)
      : GaussianForward(domain, 1.0), coefficients_(std::move(alpha_bar)) {}

 protected:
  const GaussianCoefficients& coefficients() const override { return coefficients_; }

 private:
  VpCoefficients coefficients_;
};

// alpha_bar on the table 0..T, linear in between.
std::function<double(double)> Interpolated(std::vector<double> table) {
  return [table = std::move(table)](double t) {
    const double last = static_cast<double>(table.size() - 1);
    TORCH_CHECK(t >= 0 && t <= last, "time ", t, " is outside [0, ", last, "]");
    const size_t i = static_cast<size_t>(std::floor(t));
    const double frac = t - i;
    return frac == 0 ? table[i] : (1 - frac) * table[i] + frac * table[i + 1];
  };
}

// alpha_bar from sigma_tilde = sqrt((1 - alpha_bar) / alpha_bar) interpolated linearly on
// the table (EulerDiscreteScheduler's np.interp of its sigmas).
std::function<double(double)> SigmaInterpolated(const std::vector<double>& alpha_bars) {
  std::vector<double> sigmas(alpha_bars.size());
  for (size_t i = 0; i < sigmas.size(); ++i) {
    sigmas[i] = std::sqrt((1 - alpha_bars[i]) / alpha_bars[i]);
  }
  return [table = std::move(sigmas), alpha_bars](double t) {
    const double last = static_cast<double>(table.size() - 1);
    TORCH_CHECK(t >= 0 && t <= last, "time ", t, " is outside [0, ", last, "]");
    const size_t i = static_cast<size_t>(std::floor(t));
    const double frac = t - i;
    if (frac == 0) return alpha_bars[i];
    const double sigma = (1 - frac) * table[i] + frac * table[i + 1];
    return 1 / (1 + sigma * sigma);
  };
}

absl::StatusOr<std::function<double(double)>> ContinuousAlphaBar(const GaussianVpOptions& o) {
  std::function<double(double)> f;
  switch (o.schedule()) {
    case GaussianVpOptions::LINEAR: {
      const double b0 = o.beta_start() * o.num_steps(), b1 = o.beta_end() * o.num_steps();
      f = [b0, b1](double u) { return LinearAlphaBar(u, b0, b1); };
      break;
    }
    case GaussianVpOptions::COSINE:
      f = [s = o.cosine_offset()](double u) { return CosineAlphaBar(u, s); };
      break;
    case GaussianVpOptions::SIGMOID:
      f = [a = o.sigmoid_start(), b = o.sigmoid_end(), tau = o.sigmoid_tau()](double u) {
        return SigmoidAlphaBar(u, a, b, tau);
      };
      break;
    default:
      return absl::InvalidArgumentError(
          "option continuous_time supports schedules LINEAR, COSINE and SIGMOID");
  }
  auto clipped = [f](double u) {
    TORCH_CHECK(u >= 0 && u <= 1, "time ", u, " is outside [0, 1]");
    return std::max(f(u), kMinAlphaBar);
  };
  if (!o.zero_terminal_snr()) return std::function<double(double)>(clipped);
  const double s_last = std::sqrt(clipped(1.0));
  return std::function<double(double)>([clipped, s_last](double u) {
    const double s = (std::sqrt(clipped(u)) - s_last) / (1 - s_last);
    return s * s;
  });
}

std::vector<double> DiscreteAlphaBars(const GaussianVpOptions& o) {
  const int64_t T = o.num_steps();
  switch (o.schedule()) {
    case GaussianVpOptions::LINEAR:
      return AlphaBars(LinearBetas(T, o.beta_start(), o.beta_end()));
    case GaussianVpOptions::SCALED_LINEAR:
      return AlphaBars(ScaledLinearBetas(T, o.beta_start(), o.beta_end()));
    case GaussianVpOptions::COSINE:
      return AlphaBars(CosineBetas(T, o.cosine_offset(), o.max_beta()));
    case GaussianVpOptions::SIGMOID: {
      std::vector<double> ab(T + 1);
      for (int64_t i = 0; i <= T; ++i) {
        ab[i] = std::max(SigmoidAlphaBar(static_cast<double>(i) / T, o.sigmoid_start(),
                                         o.sigmoid_end(), o.sigmoid_tau()),
                         kMinAlphaBar);
      }
      return ab;
    }
  }
  return {};
}

}  // namespace

absl::StatusOr<std::unique_ptr<ForwardProcess>> MakeGaussianVp(const GaussianVpOptions& o) {
  ABSL_RETURN_IF_ERROR(CheckInRange("num_steps", o.num_steps(), 1, 100000));
  ABSL_RETURN_IF_ERROR(CheckInRange("beta_start", o.beta_start(), 1e-12, 0.999999));
  ABSL_RETURN_IF_ERROR(CheckInRange("beta_end", o.beta_end(), 1e-12, 0.999999));
  ABSL_RETURN_IF_ERROR(CheckInRange("cosine_offset", o.cosine_offset(), 0, 1));
  ABSL_RETURN_IF_ERROR(CheckInRange("max_beta", o.max_beta(), 1e-12, 1));
  ABSL_RETURN_IF_ERROR(CheckInRange("sigmoid_tau", o.sigmoid_tau(), 1e-6, 100));
  if (!(o.sigmoid_start() < o.sigmoid_end())) {
    return absl::InvalidArgumentError("option sigmoid_start must be < sigmoid_end");
  }
  if (o.continuous_time()) {
    if (o.interpolation() != GaussianVpOptions::ALPHA_BAR) {
      return absl::InvalidArgumentError("option interpolation applies to discrete time only");
    }
    ABSL_ASSIGN_OR_RETURN(std::function<double(double)> alpha_bar, ContinuousAlphaBar(o));
    return std::unique_ptr<ForwardProcess>(new GaussianVp({false, 0}, std::move(alpha_bar)));
  }
  std::vector<double> alpha_bars = DiscreteAlphaBars(o);
  if (o.zero_terminal_snr()) RescaleToZeroTerminalSnr(&alpha_bars, /*first=*/1);
  std::function<double(double)> alpha_bar =
      o.interpolation() == GaussianVpOptions::SIGMA ? SigmaInterpolated(alpha_bars)
                                                    : Interpolated(std::move(alpha_bars));
  return std::unique_ptr<ForwardProcess>(
      new GaussianVp({true, o.num_steps()}, std::move(alpha_bar)));
}

namespace {
absl::StatusOr<std::unique_ptr<ForwardProcess>> Factory(const GaussianVpOptions& options,
                                                        const BuildContext&) {
  return MakeGaussianVp(options);
}
}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "gaussian_vp", GaussianVpOptions, Factory);

}  // namespace diffuse
