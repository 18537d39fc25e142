// The probability-flow ODE likelihood against closed forms: Gaussian data, whose density is
// known, with the exact predictor on four forward families; the eight-Gaussians ring with
// the exact oracle against the mixture's log-density; Hutchinson's estimator against the
// exact trace.
#include "assembly/likelihood.h"

#include <cmath>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "assembly/test_support.h"
#include "data/gaussian_mixture.h"
#include "gtest/gtest.h"

namespace diffuse {
namespace {

constexpr char kVe[] = R"(name: "gaussian_ve" options {
    [type.googleapis.com/diffuse.GaussianVeOptions] { sigma_min: 0.002 sigma_max: 40 } })";
constexpr char kContinuousVp[] = R"(name: "gaussian_vp" options {
    [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: LINEAR continuous_time: true } })";

std::string GaussianText(const std::string& forward) {
  return absl::StrCat(R"(
    data { name: "gaussian_mixture" options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
      component { mean: [1.0, -0.5] std: 0.5 } } } }
    forward { )", forward, R"( }
    predictor { name: "mixture_oracle" }
    prior { name: "standard_normal" options {
      [type.googleapis.com/diffuse.StandardNormalPriorOptions] { max_terminal_alpha: 1 } } }
    reverse { name: "substitution" })");
}

// log N(x; (1, -0.5), 0.25 I) per row.
at::Tensor GaussianLogDensity(const at::Tensor& x) {
  const at::Tensor mean = torch::tensor({1.0, -0.5}, at::kDouble);
  return -0.5 * (x - mean).square().sum(1) / 0.25 - std::log(2 * M_PI * 0.25);
}

TEST(LikelihoodTest, GaussianDataMatchesItsDensityPerPoint) {
  for (const std::string forward :
       {std::string(R"(name: "gaussian_vp")"), std::string(kContinuousVp), std::string(kVe),
        std::string(R"(name: "flow")")}) {
    std::unique_ptr<Pipeline> p = BuildOrFail(GaussianText(forward));
    ASSERT_NE(p, nullptr);
    at::Generator gen = at::detail::createCPUGenerator(1);
    const at::Tensor x = torch::tensor({1.0, -0.5}, at::kDouble) +
                         0.5 * at::randn({32, 2}, gen, at::kDouble);
    LikelihoodOptions options;
    absl::StatusOr<LikelihoodResult> r = EstimateLikelihood(*p, x, options);
    ASSERT_TRUE(r.ok()) << r.status();
    // The model's density: the data's, moved by the terminal mismatch between the start
    // N(0, s^2 I), s^2 = alpha_T^2 + sigma_T^2, and q_T = N(alpha_T m, alpha_T^2 / 4 + sigma_T^2).
    const GaussianCoefficients& g = *p->forward->gaussian();
    const double T = p->forward->time_domain().t_max();
    const double a = g.Alpha(T), s = g.Sigma(T), s2 = a * a + s * s, v = a * a / 4 + s * s;
    const at::Tensor m = torch::tensor({1.0, -0.5}, at::kDouble) * a;
    const at::Tensor start = -0.5 * r->x_T.square().sum(1) / s2 - std::log(2 * M_PI * s2);
    const at::Tensor q_T = -0.5 * (r->x_T - m).square().sum(1) / v - std::log(2 * M_PI * v);
    const at::Tensor model = GaussianLogDensity(x) + start - q_T;
    EXPECT_LT((r->log_likelihood - model).abs().max().item<double>(), 1e-3) << forward;
    // The mismatch itself is what separates the model from the data here.
    EXPECT_LT((r->log_likelihood - GaussianLogDensity(x)).abs().max().item<double>(), 0.2);
    EXPECT_NEAR(r->bits_per_dim, -r->mean / (2 * std::log(2.0)), 1e-12);
    EXPECT_GT(r->function_evals, 10);
  }
}

TEST(LikelihoodTest, HutchinsonIsUnbiasedForTheExactTrace) {
  std::unique_ptr<Pipeline> p = BuildOrFail(OracleText{}.Text());
  ASSERT_NE(p, nullptr);
  const int64_t probes = 4000;
  for (double t : {50.0, 300.0}) {
    const at::Tensor point = torch::tensor({{2.0, 0.5}}, at::kDouble);
    const double exact =
        VelocityDivergence(*p, point, t, TraceEstimator::kExact, {}).item<double>();
    at::Generator gen = at::detail::createCPUGenerator(2);
    const at::Tensor x = point.expand({probes, 2}).contiguous();
    for (TraceEstimator e : {TraceEstimator::kRademacher, TraceEstimator::kGaussian}) {
      const at::Tensor z = e == TraceEstimator::kGaussian
                               ? at::randn({probes, 2}, gen, at::kDouble)
                               : at::randint(0, 2, {probes, 2}, gen, at::kDouble) * 2 - 1;
      const at::Tensor est = VelocityDivergence(*p, x, t, e, z);
      const double se = est.std().item<double>() / std::sqrt(probes);
      EXPECT_NEAR(est.mean().item<double>(), exact, 4 * se + 1e-12) << "t=" << t;
    }
  }
}

TEST(LikelihoodTest, RingWithTheExactOracleMatchesTheMixtureDensity) {
  std::unique_ptr<Pipeline> p = BuildOrFail(OracleText{}.Text());
  ASSERT_NE(p, nullptr);
  at::Generator gen = at::detail::createCPUGenerator(4);
  const at::Tensor x = p->data->mixture()->Sample(200, gen);
  const at::Tensor exact = p->data->mixture()->LogProb(x, torch::tensor(1.0, at::kDouble),
                                                       torch::tensor(0.0, at::kDouble));
  LikelihoodOptions exact_trace;
  absl::StatusOr<LikelihoodResult> r = EstimateLikelihood(*p, x, exact_trace);
  ASSERT_TRUE(r.ok()) << r.status();
  // The model's density is the mixture's moved by the terminal mismatch (see above).
  const GaussianCoefficients& g = *p->forward->gaussian();
  const double T = p->forward->time_domain().t_max();
  const double a = g.Alpha(T), s = g.Sigma(T), s2 = a * a + s * s;
  const at::Tensor start = -0.5 * r->x_T.square().sum(1) / s2 - std::log(2 * M_PI * s2);
  const at::Tensor q_T = p->data->mixture()->LogProb(r->x_T, torch::tensor(a, at::kDouble),
                                                     torch::tensor(s, at::kDouble));
  // Measured 1.5e-3 at worst over the 200 points (discrete time: one RK step per training step).
  EXPECT_LT((r->log_likelihood - (exact + start - q_T)).abs().max().item<double>(), 3e-3);
  EXPECT_LT((r->log_likelihood - exact).abs().max().item<double>(), 0.05);
  LikelihoodOptions hutchinson;
  hutchinson.trace = TraceEstimator::kRademacher;
  r = EstimateLikelihood(*p, x, hutchinson);
  ASSERT_TRUE(r.ok()) << r.status();
  const at::Tensor diff = r->log_likelihood - exact;
  const double se = diff.std().item<double>() / std::sqrt(200.0);
  EXPECT_NEAR(diff.mean().item<double>(), 0.0, 3 * se);
  EXPECT_GT(se, 0);  // one probe per point: the estimate is noisy, not exact
}

TEST(LikelihoodTest, RefusesWhatItCannotRead) {
  std::unique_ptr<Pipeline> p = BuildOrFail(OracleText{}.Text());
  ASSERT_NE(p, nullptr);
  LikelihoodOptions bad;
  bad.rtol = 0;
  EXPECT_FALSE(EstimateLikelihood(*p, at::zeros({2, 2}, at::kDouble), bad).ok());
}

}  // namespace
}  // namespace diffuse
