#include "assembly/likelihood.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/maximum.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <glog/logging.h>
#include <torch/csrc/autograd/autograd.h>

#include "absl/strings/str_cat.h"
#include "models/module_ops.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

struct Coefficients {
  double alpha, sigma, dalpha, dsigma;
};

// alpha, sigma and their time derivatives (central differences inside [0, t_max]).
Coefficients At(const GaussianCoefficients& g, double t, double t_max) {
  const double d = 1e-6 * t_max;
  const double lo = std::max(0.0, t - d), hi = std::min(t_max, t + d);
  return {g.Alpha(t), g.Sigma(t), (g.Alpha(hi) - g.Alpha(lo)) / (hi - lo),
          (g.Sigma(hi) - g.Sigma(lo)) / (hi - lo)};
}

at::ScalarType NetworkType(const Pipeline& p) {
  return p.trained_module() != nullptr ? WeightsType(*p.trained_module()) : at::kDouble;
}

// v(x, t) of the header, float64.
at::Tensor Velocity(Pipeline& p, const at::Tensor& x, double t) {
  const Coefficients c = At(*p.forward->gaussian(), t, p.forward->time_domain().t_max());
  Condition condition;
  if (p.predictor->conditions().num_classes > 0) {
    condition.label = at::full({x.size(0)}, Condition::kNullLabel, at::kLong);
  }
  const at::Tensor x0 =
      p.predictor->Predict(x.to(NetworkType(p)), Time(t), condition).x0.to(at::kDouble);
  // = (alpha'/alpha) x + (sigma'/sigma - alpha'/alpha)(x - alpha x0), without 1 / alpha
  // (alpha = 0 at t_max for flow and zero-terminal-SNR processes).
  return x * (c.dsigma / c.sigma) + x0 * (c.dalpha - c.alpha * c.dsigma / c.sigma);
}

// (v, div v) at (x, t).
std::pair<at::Tensor, at::Tensor> VelocityAndDivergence(Pipeline& p, const at::Tensor& x,
                                                        double t, TraceEstimator trace,
                                                        const at::Tensor& z) {
  at::AutoGradMode grad_mode(true);
  const at::Tensor input = x.detach().requires_grad_(true);
  const at::Tensor v = Velocity(p, input, t);
  at::Tensor div;
  if (trace == TraceEstimator::kExact) {
    const at::Tensor flat = v.flatten(1);
    const int64_t dims = flat.size(1);
    div = at::zeros({x.size(0)}, at::kDouble);
    for (int64_t d = 0; d < dims; ++d) {
      const at::Tensor g = torch::autograd::grad({flat.select(1, d).sum()}, {input},
                                                 /*grad_outputs=*/{},
                                                 /*retain_graph=*/d + 1 < dims)[0];
      div = div + g.flatten(1).select(1, d);
    }
  } else {
    const at::Tensor g = torch::autograd::grad({(v * z).sum()}, {input})[0];
    div = (g * z).flatten(1).sum(1);
  }
  return {v.detach(), div.detach()};
}

// Dormand-Prince 5(4) tableau (Dormand & Prince 1980), first-same-as-last.
constexpr std::array<double, 7> kC = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
const std::array<std::vector<double>, 7> kA = {{
    {},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
}};
// b (fifth order) minus b* (fourth order).
constexpr std::array<double, 7> kE = {71.0 / 57600,   0,           -71.0 / 16695, 71.0 / 1920,
                                      -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

struct PathEnd {
  at::Tensor x_T;         // [B, ...]
  at::Tensor divergence;  // [B] int div v dt
  int64_t evals = 0;
};

// Solves (x, int div) from t0 to t1 for the chunk x.
absl::StatusOr<PathEnd> Integrate(Pipeline& p, const at::Tensor& x_start, double t0, double t1,
                                  const LikelihoodOptions& o, const at::Tensor& z) {
  const int64_t b = x_start.size(0);
  // The state: [B, D + 1], x flattened and the accumulated divergence last.
  const std::vector<int64_t> shape(x_start.sizes().begin(), x_start.sizes().end());
  PathEnd end;
  const auto f = [&](double t, const at::Tensor& y) {
    const at::Tensor x = y.narrow(1, 0, y.size(1) - 1).reshape(shape);
    auto [v, div] = VelocityAndDivergence(p, x, t, o.trace, z);
    ++end.evals;
    return at::cat({v.reshape({b, -1}), div.unsqueeze(1)}, 1);
  };
  at::Tensor y = at::cat({x_start.reshape({b, -1}), at::zeros({b, 1}, at::kDouble)}, 1);
  double t = t0;
  double h = 1e-3 * (t1 - t0);
  at::Tensor k1 = f(t, y);
  int rejected_in_a_row = 0;
  // Discrete time: alpha_bar is linear between training steps, so the coefficients kink at
  // every integer t; steps end there rather than cross one (an RK step across a kink is
  // first order there, and the error estimate does not see it).
  const bool discrete = p.forward->time_domain().discrete;
  while (t < t1) {
    h = std::min(h, t1 - t);
    if (discrete) {
      const double next = std::floor(t + 1e-9) + 1;
      if (next < t1 && t + h > next) h = next - t;
    }
    std::array<at::Tensor, 7> k;
    k[0] = k1;
    at::Tensor y_new;
    for (int s = 1; s < 7; ++s) {
      at::Tensor acc = y.clone();
      for (int j = 0; j < s; ++j) {
        if (kA[s][j] != 0) acc = acc + k[j] * (h * kA[s][j]);
      }
      if (s == 6) y_new = acc;
      k[s] = f(t + kC[s] * h, acc);
    }
    at::Tensor err = at::zeros_like(y);
    for (int j = 0; j < 7; ++j) {
      if (kE[j] != 0) err = err + k[j] * (h * kE[j]);
    }
    const at::Tensor scale = at::maximum(y.abs(), y_new.abs()) * o.rtol + o.atol;
    const double norm = (err / scale).square().mean().sqrt().item<double>();
    if (!std::isfinite(norm)) {
      return absl::InternalError(absl::StrCat("the probability-flow ODE left the finite numbers "
                                              "at t = ", t, " (the predictor returned inf or NaN)"));
    }
    if (norm <= 1) {
      t += h;
      y = y_new;
      k1 = k[6];
      rejected_in_a_row = 0;
    } else if (++rejected_in_a_row > 50 || h < 1e-14 * (t1 - t0)) {
      return absl::InternalError(absl::StrCat("the ODE solver's step shrank to ", h, " at t = ",
                                              t, " (rtol / atol too small for float64?)"));
    }
    h *= std::clamp(0.9 * std::pow(std::max(norm, 1e-10), -0.2), 0.2, 5.0);
  }
  end.x_T = y.narrow(1, 0, y.size(1) - 1).reshape(shape);
  end.divergence = y.select(1, y.size(1) - 1);
  return end;
}

}  // namespace

absl::Status CheckLikelihood(const Pipeline& p) {
  if (p.forward == nullptr || p.predictor == nullptr) {
    return absl::FailedPreconditionError("the likelihood needs a diffusion description");
  }
  if (p.forward->gaussian() == nullptr || p.forward->HasOffset() ||
      !p.forward->HasDataFreeTerminal()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "forward '", p.config.forward().name(),
        "': the probability-flow ODE here needs Gaussian coefficients, no offset and a "
        "data-free terminal distribution"));
  }
  if (p.predictor->predicts_logits()) {
    return absl::FailedPreconditionError("the probability-flow ODE needs real-valued data");
  }
  const ConditionSupport c = p.predictor->conditions();
  if ((c.num_classes > 0 && !c.null_label) || c.image_channels > 0 || c.latent_dim > 0 ||
      p.text_conditioned() || p.encoder != nullptr) {
    return absl::FailedPreconditionError(
        "the predictor needs a condition (labels without a null label, an image, a latent z, "
        "a prompt); the likelihood here is of p(x0) unconditionally");
  }
  return absl::OkStatus();
}

at::Tensor VelocityDivergence(Pipeline& p, const at::Tensor& x, double t, TraceEstimator trace,
                              const at::Tensor& z) {
  return VelocityAndDivergence(p, x.to(at::kDouble), t, trace,
                               z.defined() ? z.to(at::kDouble) : z)
      .second;
}

absl::StatusOr<LikelihoodResult> EstimateLikelihood(Pipeline& p, const at::Tensor& x0_in,
                                                    const LikelihoodOptions& o) {
  ABSL_RETURN_IF_ERROR(CheckLikelihood(p));
  if (!(o.rtol > 0) || !(o.atol > 0)) {
    return absl::InvalidArgumentError("rtol and atol must be > 0");
  }
  const TimeDomain domain = p.forward->time_domain();
  const double t_max = domain.t_max();
  const double fraction =
      o.t_min_fraction > 0 ? o.t_min_fraction : (domain.discrete ? 1e-3 / t_max : 1e-5);
  const double t_min = fraction * t_max;
  const GaussianCoefficients& g = *p.forward->gaussian();
  const double terminal_var = g.Alpha(t_max) * g.Alpha(t_max) + g.Sigma(t_max) * g.Sigma(t_max);
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  at::Tensor x0_all = x0_in.to(at::kDouble);
  if (o.dequantization_bin > 0) {
    x0_all = x0_all + (at::rand(x0_all.sizes(), gen, at::kDouble) - 0.5) * o.dequantization_bin;
  }
  const int64_t n = x0_all.size(0), dims = x0_all[0].numel();
  LikelihoodResult r;
  r.dims = dims;
  r.t_min = t_min;
  std::vector<at::Tensor> parts, ends;
  double prior_sum = 0, divergence_sum = 0;
  int64_t evals = 0, chunks = 0;
  const int64_t chunk = std::max<int64_t>(1, p.config.sampler().batch_size());
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < n; i += chunk) {
    const at::Tensor x = x0_all.slice(0, i, i + chunk);
    at::Tensor z;
    if (o.trace == TraceEstimator::kRademacher) {
      z = at::randint(0, 2, x.sizes(), gen, at::kDouble) * 2 - 1;
    } else if (o.trace == TraceEstimator::kGaussian) {
      z = at::randn(x.sizes(), gen, at::kDouble);
    }
    ABSL_ASSIGN_OR_RETURN(PathEnd end, Integrate(p, x, t_min, t_max, o, z));
    const at::Tensor prior = -0.5 * end.x_T.square().flatten(1).sum(1) / terminal_var -
                             0.5 * dims * std::log(2 * M_PI * terminal_var);
    parts.push_back(prior + end.divergence);
    ends.push_back(end.x_T);
    prior_sum += prior.sum().item<double>();
    divergence_sum += end.divergence.sum().item<double>();
    evals += end.evals;
    ++chunks;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    LOG(INFO) << "likelihood: " << std::min(n, i + chunk) << " / " << n << " points, "
              << end.evals << " velocity evaluations, " << seconds << " s, ETA "
              << seconds / std::min(n, i + chunk) * (n - std::min(n, i + chunk)) << " s";
  }
  r.log_likelihood = at::cat(parts);
  r.x_T = at::cat(ends);
  r.mean = r.log_likelihood.mean().item<double>();
  r.standard_error = n > 1 ? r.log_likelihood.std().item<double>() / std::sqrt(n) : 0.0;
  r.prior_term = prior_sum / n;
  r.divergence_term = divergence_sum / n;
  r.function_evals = static_cast<double>(evals) / chunks;
  r.bits_per_dim = -r.mean / (dims * std::log(2.0));
  if (o.dequantization_bin > 0) r.bits_per_dim -= std::log2(o.dequantization_bin);
  return r;
}

}  // namespace diffuse
