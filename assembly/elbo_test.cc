// The negative ELBO's terms on Gaussian data with the exact x0-predictor: each against its
// closed form (the x0 posterior of N(m, s^2 I) is Gaussian with variance
// s^2 sigma^2 / (alpha^2 s^2 + sigma^2)), and their sum a bound on the exact -log p(x0);
// pipelines outside its assumptions are refused.
#include <cmath>
#include <string>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "assembly/elbo.h"
#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "models/gaussian_latent.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr double kMean[2] = {1.0, -0.5};
constexpr double kStd = 0.5;

std::string GaussianText(const std::string& forward = R"(name: "gaussian_vp")",
                         const std::string& prior = "standard_normal") {
  return absl::StrCat(R"(
    data { name: "gaussian_mixture" options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
      component { mean: [1.0, -0.5] std: 0.5 } } } }
    forward { )", forward, R"( }
    predictor { name: "mixture_oracle" }
    prior { name: ")", prior, R"(" }
    reverse { name: "substitution" }
    sampler { batch_size: 20000 })");
}

TEST(ElboTest, TermsMatchTheirClosedFormsAndBoundTheExactLikelihood) {
  std::unique_ptr<Pipeline> p = BuildOrFail(GaussianText());
  ASSERT_NE(p, nullptr);
  const int64_t n = 20000;
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor mean = torch::tensor({kMean[0], kMean[1]}, at::kDouble);
  const at::Tensor x0 = mean + kStd * at::randn({n, 2}, gen, at::kDouble);
  absl::StatusOr<ElboTerms> terms = EstimateElbo(*p, x0, 4, 5);
  ASSERT_THAT(terms, IsOk());
  EXPECT_EQ(terms->num, n);
  EXPECT_EQ(terms->dims, 2);
  EXPECT_EQ(terms->latent_kl, 0);

  // Closed forms, with abar from the same coefficients.
  const GaussianCoefficients& g = *p->forward->gaussian();
  const int64_t T = p->forward->time_domain().num_steps;
  auto abar = [&](int64_t t) { return t == 0 ? 1.0 : g.Alpha(t) * g.Alpha(t); };
  auto posterior_variance_x0 = [&](int64_t t) {  // Var(x0 | x_t) per element
    const double a2 = abar(t), s2 = 1 - abar(t);
    return kStd * kStd * s2 / (a2 * kStd * kStd + s2);
  };
  double denoising = 0;
  for (int64_t t = 2; t <= T; ++t) {
    const double beta = 1 - abar(t) / abar(t - 1);
    const double c = std::sqrt(abar(t - 1)) * beta / (1 - abar(t));
    const double beta_tilde = (1 - abar(t - 1)) / (1 - abar(t)) * beta;
    denoising += c * c / (2 * beta_tilde) * 2 * posterior_variance_x0(t);
  }
  EXPECT_NEAR(terms->denoising, denoising, 4 * terms->denoising_se);
  EXPECT_LT(terms->denoising_se, 0.01 * denoising);
  const double beta1 = 1 - abar(1);
  const double reconstruction =
      std::log(2 * M_PI * beta1) + 2 * posterior_variance_x0(1) / (2 * beta1);
  EXPECT_NEAR(terms->reconstruction, reconstruction, 0.03 * std::abs(reconstruction) + 0.02);
  EXPECT_NEAR(terms->prior_kl,
              DiffusionPriorKl(x0, g.Alpha(T), g.Sigma(T)).mean().item<double>(), 1e-12);

  // The bound holds in closed form and in the estimate, above the exact -log p of
  // N(m, s^2 I) by the price of DDPM's fixed reverse variance.
  const double nll =
      ((x0 - mean).square().sum(1) / (2 * kStd * kStd)).mean().item<double>() +
      std::log(2 * M_PI * kStd * kStd);
  const double closed_total = reconstruction + denoising + terms->prior_kl;
  EXPECT_GT(closed_total, nll);
  EXPECT_GT(terms->total(), nll);
  EXPECT_NEAR(terms->total(), closed_total, 4 * terms->denoising_se + 0.03 * std::abs(reconstruction) + 0.02);
}

TEST(ElboTest, RefusesPipelinesOutsideItsAssumptions) {
  std::unique_ptr<Pipeline> ve = BuildOrFail(GaussianText(R"(name: "gaussian_ve")", "forward_terminal"));
  ASSERT_NE(ve, nullptr);
  EXPECT_THAT(EstimateElbo(*ve, torch::zeros({4, 2}), 1, 0).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("forward 'gaussian_ve'")));
  std::unique_ptr<Pipeline> vp = BuildOrFail(GaussianText());
  EXPECT_THAT(EstimateElbo(*vp, torch::zeros({4, 2}), 0, 0).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("draws")));
}

}  // namespace
}  // namespace diffuse
