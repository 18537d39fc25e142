#include "reverse/time_grid.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace diffuse {
namespace {

// Entry i of numpy.linspace(0, stop, num) as numpy computes it: i * (stop / (num - 1)) in
// float64, the last entry exactly stop (so that ties at .5 round as numpy's do).
double NumpyLinspace(double stop, int num, int i) {
  if (num == 1) return 0.0;
  if (i == num - 1) return stop;
  const double step = stop / (num - 1);
  return i * step;
}

}  // namespace

absl::StatusOr<std::vector<double>> MakeTimeGrid(TimeGrid grid, int num_steps,
                                                 int steps_offset, const TimeDomain& domain) {
  const int n = num_steps;
  if (n < 1 || n > (domain.discrete ? domain.num_steps : kMaxSamplingSteps)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.num_steps = ", n, " must be in [1, ",
        domain.discrete ? absl::StrCat(domain.num_steps, "] (the training steps T)")
                        : absl::StrCat(kMaxSamplingSteps, "]")));
  }
  std::vector<double> times(n);
  if (grid == KARRAS) {
    return absl::InvalidArgumentError("sampler.grid KARRAS needs the forward process");
  }
  if (!domain.discrete && (grid == LINSPACE_OPEN || grid == LINSPACE_FRACTIONAL)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.grid ", TimeGrid_Name(grid), " is defined for discrete time only"));
  }
  if (!domain.discrete) {
    for (int k = 0; k < n; ++k) {
      const double u = static_cast<double>(n - k) / n;
      times[k] = grid == QUADRATIC ? u * u : u;
    }
    return times;
  }
  const int64_t T = domain.num_steps;
  for (int k = 0; k < n; ++k) {
    switch (grid) {
      case LINSPACE:  // k-th from the end of linspace(0, T - 1, n)
        times[k] = std::nearbyint(NumpyLinspace(T - 1, n, n - 1 - k)) + 1;
        break;
      case LEADING:
        times[k] = static_cast<double>((T / n) * (n - 1 - k) + steps_offset + 1);
        break;
      case TRAILING:
        times[k] = std::nearbyint(T - k * static_cast<double>(T) / n);
        break;
      case LINSPACE_OPEN:  // k-th from the end of linspace(0, T - 1, n + 1), the 0 dropped
        times[k] = std::nearbyint(NumpyLinspace(T - 1, n + 1, n - k)) + 1;
        break;
      case LINSPACE_FRACTIONAL:  // numpy computes in float64, then casts to float32
        times[k] = static_cast<double>(static_cast<float>(NumpyLinspace(T - 1, n, n - 1 - k))) + 1;
        break;
      case QUADRATIC: {
        const double v = n == 1 ? 0.0 : std::sqrt(0.8 * T) * (n - 1 - k) / (n - 1);
        times[k] = std::floor(v * v) + 1;
        break;
      }
      default:
        break;
    }
  }
  for (int k = 0; k < n; ++k) {
    if (times[k] < 1 || times[k] > T || (k > 0 && times[k] >= times[k - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampler: grid ", TimeGrid_Name(grid), " with num_steps = ", n,
          ", steps_offset = ", steps_offset, " gives step ", times[k], " at position ", k,
          ", not a strictly decreasing time in [1, ", T, "]"));
    }
  }
  return times;
}

double TimeAtScaledSigma(const GaussianCoefficients& g, double sigma_tilde, double t_lo,
                         double t_hi) {
  auto scaled = [&](double t) {
    const double alpha = g.Alpha(t);
    return alpha == 0 ? std::numeric_limits<double>::infinity() : g.Sigma(t) / alpha;
  };
  for (int i = 0; i < 200 && t_hi - t_lo > 1e-12 * std::max(1.0, t_hi); ++i) {
    const double mid = 0.5 * (t_lo + t_hi);
    (scaled(mid) < sigma_tilde ? t_lo : t_hi) = mid;
  }
  return 0.5 * (t_lo + t_hi);
}

absl::StatusOr<std::vector<double>> MakeSamplerGrid(const SamplerOptions& s,
                                                    const ForwardProcess& forward) {
  const TimeDomain domain = forward.time_domain();
  if (s.timesteps_size() > 0) {
    if (s.has_num_steps() && s.num_steps() != s.timesteps_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampler.num_steps = ", s.num_steps(), " but sampler.timesteps has ",
          s.timesteps_size(), " entries"));
    }
    std::vector<double> times(s.timesteps().begin(), s.timesteps().end());
    for (size_t k = 0; k < times.size(); ++k) {
      if (!(times[k] > 0 && times[k] <= domain.t_max()) || (k > 0 && times[k] >= times[k - 1])) {
        return absl::InvalidArgumentError(absl::StrCat(
            "sampler.timesteps[", k, "] = ", times[k], ": need strictly decreasing times in (0, ",
            domain.t_max(), "]"));
      }
    }
    return times;
  }
  if (s.grid() != KARRAS) {
    return MakeTimeGrid(s.grid(), s.num_steps(), s.steps_offset(), domain);
  }
  const GaussianCoefficients* g = forward.gaussian();
  if (g == nullptr) {
    return absl::InvalidArgumentError(
        "sampler.grid KARRAS needs a forward process with Gaussian coefficients");
  }
  const int n = s.num_steps();
  if (n < 1 || n > kMaxSamplingSteps) {
    return absl::InvalidArgumentError(absl::StrCat("sampler.num_steps = ", n, " must be in [1, ",
                                                   kMaxSamplingSteps, "]"));
  }
  if (!(s.rho() >= 1 && s.rho() <= 100)) {
    return absl::InvalidArgumentError(absl::StrCat("sampler.rho = ", s.rho(), " must be in [1, 100]"));
  }
  const double t_first = domain.discrete ? 1.0 : 1e-3;
  const double t_max = domain.t_max();
  auto scaled = [&](double t) { return g->Sigma(t) / g->Alpha(t); };
  const double lo = s.has_sigma_min() ? s.sigma_min() : scaled(t_first);
  const double hi = s.has_sigma_max() ? s.sigma_max() : scaled(t_max);
  if (!std::isfinite(hi)) {
    return absl::InvalidArgumentError(
        "sampler.sigma_max is required for KARRAS: the forward process reaches alpha = 0 "
        "(sigma / alpha = inf) at t_max");
  }
  if (!(lo > 0 && lo < hi)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.sigma_min = ", lo, " and sigma_max = ", hi, " must satisfy 0 < min < max"));
  }
  std::vector<double> times(n);
  const double a = std::pow(hi, 1 / s.rho()), b = std::pow(lo, 1 / s.rho());
  for (int k = 0; k < n; ++k) {
    const double sigma = std::pow(n == 1 ? a : a + k * (b - a) / (n - 1), s.rho());
    times[k] = TimeAtScaledSigma(*g, sigma, 0.0, t_max);
    if (k > 0 && !(times[k] < times[k - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampler: KARRAS grid with num_steps = ", n, " is not strictly decreasing at step ", k));
    }
  }
  return times;
}

}  // namespace diffuse
