#include "assembly/elbo.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include "absl/strings/str_cat.h"
#include "models/gaussian_latent.h"
#include "models/module_ops.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

constexpr int64_t kExactSteps = 20;

}  // namespace

absl::Status CheckElbo(const Pipeline& p) {
  if (p.forward == nullptr || p.predictor == nullptr || p.prior == nullptr) {
    return absl::FailedPreconditionError("the ELBO needs a diffusion description");
  }
  const GaussianCoefficients* g = p.forward->gaussian();
  const TimeDomain domain = p.forward->time_domain();
  if (g == nullptr || !domain.discrete || p.forward->HasOffset()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "forward '", p.config.forward().name(),
        "': the ELBO's terms here need discrete time, Gaussian coefficients and no offset"));
  }
  for (int64_t t = 1; t <= domain.num_steps; t += std::max<int64_t>(1, domain.num_steps / 16)) {
    const double a = g->Alpha(t), s = g->Sigma(t);
    if (std::abs(a * a + s * s - 1) > 1e-6) {
      return absl::FailedPreconditionError(absl::StrCat(
          "forward '", p.config.forward().name(), "' is not variance preserving (alpha^2 + sigma^2 = ",
          a * a + s * s, " at t = ", t, "); DDPM's posterior q(x_{t-1} | x_t, x0) assumes it"));
    }
  }
  if (!p.prior->starts_at_standard_normal()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "prior '", p.config.prior().name(), "' does not start the reverse process at N(0, I)"));
  }
  if (p.predictor->predicts_logits()) {
    return absl::FailedPreconditionError("the ELBO's Gaussian terms need real-valued data");
  }
  const ConditionSupport c = p.predictor->conditions();
  if ((c.num_classes > 0 && !c.null_label) || c.image_channels > 0 ||
      (c.latent_dim > 0 && p.encoder == nullptr) || p.text_conditioned()) {
    return absl::FailedPreconditionError(
        "the predictor needs a condition other than the encoder's z (labels without a null "
        "label, an image, a prompt); the ELBO here is of p(x0), unconditional or through the "
        "encoder's z");
  }
  if (p.encoder != nullptr && p.encoder->takes_time()) {
    return absl::FailedPreconditionError("an encoder of (x0, t) (LRDM) has one z per step");
  }
  return absl::OkStatus();
}

absl::StatusOr<ElboTerms> EstimateElbo(Pipeline& p, const at::Tensor& x0_in, int draws,
                                       uint64_t seed) {
  ABSL_RETURN_IF_ERROR(CheckElbo(p));
  if (draws < 1) return absl::InvalidArgumentError("draws must be >= 1");
  at::NoGradGuard no_grad;
  const GaussianCoefficients& g = *p.forward->gaussian();
  const int64_t T = p.forward->time_domain().num_steps;
  const at::ScalarType net = p.trained_module() != nullptr
                                 ? WeightsType(*p.trained_module())
                                 : at::kDouble;
  const at::Tensor x0_all = x0_in.to(at::kDouble);
  const int64_t n = x0_all.size(0), dims = x0_all[0].numel();
  // abar_t, t = 0..T, and the per-step constants in float64.
  std::vector<double> abar(T + 1, 1.0);
  for (int64_t t = 1; t <= T; ++t) abar[t] = g.Alpha(t) * g.Alpha(t);
  std::vector<double> kl_coefficient(T + 1, 0.0);  // c_t^2 / (2 beta~_t)
  for (int64_t t = 2; t <= T; ++t) {
    const double beta = 1 - abar[t] / abar[t - 1];
    const double c = std::sqrt(abar[t - 1]) * beta / (1 - abar[t]);
    const double posterior_variance = (1 - abar[t - 1]) / (1 - abar[t]) * beta;
    kl_coefficient[t] = c * c / (2 * posterior_variance);
  }
  const double beta1 = 1 - abar[1];
  const int64_t last_exact = std::min<int64_t>(T, 1 + kExactSteps);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  // A class-conditional predictor with a null label models p(x0) at the null label.
  const bool null_label = p.predictor->conditions().num_classes > 0;
  const auto predict = [&](const at::Tensor& x_t, const at::Tensor& t, const at::Tensor& z) {
    Condition condition;
    if (z.defined()) condition.latent = z.to(net);
    if (null_label) condition.label = at::full({x_t.size(0)}, Condition::kNullLabel, at::kLong);
    return p.predictor->Predict(x_t.to(net), Time(t.to(at::kDouble)), condition).x0.to(at::kDouble);
  };
  ElboTerms terms;
  terms.num = n;
  terms.dims = dims;
  double denoising_sum = 0, denoising_square = 0;
  const int64_t chunk = p.config.sampler().batch_size();
  for (int64_t i = 0; i < n; i += chunk) {
    const at::Tensor x0 = x0_all.slice(0, i, i + chunk);
    const int64_t b = x0.size(0);
    at::Tensor z;
    if (p.encoder != nullptr) {
      const LatentPosterior q = p.encoder->Encode(x0.to(net), Time(0.0));
      if (q.log_variance.defined()) {
        const LatentPosterior q64{q.mean.to(at::kDouble), q.log_variance.to(at::kDouble)};
        terms.latent_kl += KlToStandardNormal(q64).sum().item<double>();
        z = Reparameterize(q64, at::randn(q.mean.sizes(), gen, at::kDouble));
      } else {
        z = q.mean.to(at::kDouble);
      }
    }
    terms.prior_kl +=
        DiffusionPriorKl(x0, g.Alpha(T), g.Sigma(T)).sum().item<double>();
    // t = 1: -log N(x0; x0_hat(x_1), beta_1 I).
    const at::Tensor one = at::ones({b}, at::kDouble);
    const at::Tensor x1 = g.Alpha(1) * x0 + g.Sigma(1) * at::randn(x0.sizes(), gen, at::kDouble);
    const at::Tensor error1 = (x0 - predict(x1, one, z)).square().flatten(1).sum(1);
    terms.reconstruction +=
        (0.5 * dims * std::log(2 * M_PI * beta1) + error1 / (2 * beta1)).sum().item<double>();
    // The denoising sum: its first kExactSteps terms (t = 2, 3, ...), where c_t^2 / beta~_t
    // is largest and a uniform draw of t would be heavy-tailed, exactly for every sample;
    // the rest by `draws` uniform draws of t from the remaining steps.
    const auto shape = [&](const at::Tensor& v) {
      std::vector<int64_t> s(x0.dim(), 1);
      s[0] = b;
      return v.view(s);
    };
    const at::Tensor abar_table = at::tensor(abar, at::kDouble);
    const at::Tensor coefficient_table = at::tensor(kl_coefficient, at::kDouble);
    const auto kl_at = [&](const at::Tensor& t) {  // [b] KL_t of one draw of x_t per sample
      const at::Tensor alpha = abar_table.index_select(0, t).sqrt();
      const at::Tensor sigma = (1 - alpha.square()).sqrt();
      const at::Tensor x_t = shape(alpha) * x0 + shape(sigma) * at::randn(x0.sizes(), gen, at::kDouble);
      return coefficient_table.index_select(0, t) * (x0 - predict(x_t, t, z)).square().flatten(1).sum(1);
    };
    at::Tensor head = at::zeros({b}, at::kDouble);
    for (int64_t t = 2; t <= last_exact; ++t) head += kl_at(at::full({b}, t, at::kLong));
    at::Tensor kl = head;  // per sample: the exact head plus the mean of the tail draws
    if (last_exact < T) {
      for (int k = 0; k < draws; ++k) {
        kl = kl + (T - last_exact) *
                      kl_at(at::randint(last_exact + 1, T + 1, {b}, gen, at::kLong)) / draws;
      }
    }
    denoising_sum += kl.sum().item<double>();
    denoising_square += kl.square().sum().item<double>();
  }
  const double count = static_cast<double>(n);
  terms.latent_kl /= n;
  terms.prior_kl /= n;
  terms.reconstruction /= n;
  // The standard error over the samples (each sample's estimate is independent of the others).
  terms.denoising = denoising_sum / count;
  const double variance = std::max(0.0, denoising_square / count - terms.denoising * terms.denoising);
  terms.denoising_se = std::sqrt(variance / count);
  return terms;
}

}  // namespace diffuse
