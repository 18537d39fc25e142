// Marginal consistency of every reverse conditional the builder accepts with gaussian_vp:
//   x0 ~ data, x_t ~ q(x_t | x0), x_prev ~ p(x_prev | x_t, x0)  =>  x_prev ~ q(x_prev | x0),
// checked by Monte Carlo on the standardized residual z = (x_prev - alpha_prev x0) /
// sigma_prev, which must be N(0, I) and independent of x0.
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>

#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "random/noise_source.h"
#include "reverse/partial_substitution.h"

namespace diffuse {
namespace {

struct Case {
  const char* reverse;
  double t, t_prev;
  const char* forward = R"(name: "gaussian_vp")";
};

constexpr char kVe[] = R"(name: "gaussian_ve" options {
    [type.googleapis.com/diffuse.GaussianVeOptions] { sigma_min: 0.01 sigma_max: 20 } })";
constexpr char kFlow[] = R"(name: "flow")";
constexpr char kVpCosineContinuous[] = R"(name: "gaussian_vp" options {
    [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: COSINE continuous_time: true } })";
constexpr char kVpZeroSnr[] = R"(name: "gaussian_vp" options {
    [type.googleapis.com/diffuse.GaussianVpOptions] { zero_terminal_snr: true } })";

class MarginalConsistencyTest : public ::testing::TestWithParam<Case> {};

TEST_P(MarginalConsistencyTest, ResidualIsStandardNormalAndIndependentOfX0) {
  const Case c = GetParam();
  auto pipeline = BuildOrFail(OracleText{.forward = c.forward,
                                         .prior = R"(name: "forward_terminal")",
                                         .reverse = c.reverse}
                                  .Text());
  ASSERT_NE(pipeline, nullptr);
  const ForwardProcess& forward = *pipeline->forward;
  const int64_t n = 200000;
  at::Generator gen = at::detail::createCPUGenerator(11);
  const at::Tensor x0 = pipeline->data->Sample(n, gen).x.to(at::kDouble);
  PhiloxNoise noise(5);
  const at::Tensor x_t = forward.Apply(x0, c.t, forward.SampleNoise({n, 2}, noise).to(at::kDouble));
  ReverseStep step{&forward, c.t, c.t_prev, 0, 1, &noise, nullptr};
  pipeline->reverse->Reset();
  const at::Tensor x_prev = pipeline->reverse->Step(step, x_t, {x0, at::Tensor()});
  const GaussianCoefficients& g = *forward.gaussian();
  const at::Tensor z = (x_prev - g.Alpha(c.t_prev) * x0) / g.Sigma(c.t_prev);
  // Standard errors at n = 2e5: mean 2.2e-3, variance 3.2e-3, kurtosis ~1.1e-2.
  const at::Tensor mean = z.mean(0);
  const at::Tensor cov = at::matmul((z - mean).t(), z - mean) / n;
  EXPECT_TRUE(at::allclose(mean, at::zeros({2}, at::kDouble), 0, 0.012)) << mean;
  EXPECT_TRUE(at::allclose(cov, at::eye(2, at::kDouble), 0, 0.016)) << cov;
  EXPECT_NEAR(z.pow(4).mean().item<double>(), 3.0, 0.06);
  const at::Tensor x0c = (x0 - x0.mean(0)) / x0.std(0);
  const at::Tensor cross = at::matmul(x0c.t(), z - mean) / n;
  EXPECT_TRUE(at::allclose(cross, at::zeros({2, 2}, at::kDouble), 0, 0.012)) << cross;
}

INSTANTIATE_TEST_SUITE_P(
    EveryAcceptedPair, MarginalConsistencyTest,
    ::testing::Values(Case{R"(name: "resample")", 600, 400},
                      Case{R"(name: "resample")", 1000, 1},
                      Case{R"(name: "substitution")", 600, 400},
                      Case{R"(name: "substitution")", 1000, 20},
                      Case{R"(name: "partial_substitution")", 600, 400},
                      Case{R"(name: "partial_substitution")", 50, 49},
                      Case{R"(name: "partial_substitution" options {
                               [type.googleapis.com/diffuse.PartialSubstitutionOptions] {
                                 eta: 0.5 } })",
                           900, 300},
                      // Euler on the probability-flow ODE is DDIM: exactly consistent.
                      Case{R"(name: "euler")", 600, 400},
                      // Other operators.
                      Case{R"(name: "resample")", 0.8, 0.3, kVe},
                      Case{R"(name: "substitution")", 0.8, 0.3, kVe},
                      Case{R"(name: "partial_substitution")", 1.0, 0.2, kVe},
                      Case{R"(name: "substitution")", 1.0, 0.5, kFlow},
                      Case{R"(name: "partial_substitution")", 0.7, 0.69, kFlow},
                      Case{R"(name: "resample")", 0.9, 0.1, kVpCosineContinuous},
                      Case{R"(name: "partial_substitution")", 0.9, 0.1, kVpCosineContinuous},
                      Case{R"(name: "substitution")", 1000, 700, kVpZeroSnr},
                      Case{R"(name: "partial_substitution")", 1000, 990, kVpZeroSnr}));

// The Gaussian fast path of partial_substitution (one linear combination of x0, x_t, z) is
// the unified form F_{t_prev}(x0, sqrt(1 - s^2) F_t^{-1}(x0, x_t) + s z) with the same z.
TEST(PartialSubstitutionTest, GaussianStepIsTheUnifiedForm) {
  for (const char* forward : {R"(name: "gaussian_vp")", kVe, kFlow}) {
    SCOPED_TRACE(forward);
    auto p = BuildOrFail(OracleText{.forward = forward,
                                    .prior = R"(name: "forward_terminal")",
                                    .reverse = R"(name: "partial_substitution" options {
                                        [type.googleapis.com/diffuse.PartialSubstitutionOptions] {
                                          eta: 0.7 } })"}
                             .Text());
    ASSERT_NE(p, nullptr);
    const bool discrete = p->forward->time_domain().discrete;
    const double t = discrete ? 600 : 0.6, t_prev = discrete ? 400 : 0.4;
    const at::Tensor x0 = at::randn({5, 2}, at::kDouble);
    const at::Tensor x_t = at::randn({5, 2}, at::kDouble);
    // Noise sources hand out float32: z is float32-representable so both sides see it exactly.
    const at::Tensor z = at::randn({5, 2}).to(at::kDouble);
    SuppliedNoise noise({z});
    ReverseStep step{p->forward.get(), t, t_prev, 0, 1, &noise, nullptr};
    const at::Tensor fast = p->reverse->Step(step, x_t, {x0, at::Tensor()});
    const double s = PartialSubstitutionShare(*p->forward, 0.7, t, t_prev);
    ASSERT_GT(s, 0);
    const at::Tensor eps = p->forward->InvertNoise(x0, x_t, t);
    const at::Tensor want = p->forward->Apply(x0, t_prev, std::sqrt(1 - s * s) * eps + s * z);
    EXPECT_TRUE(at::allclose(fast, want, 1e-12, 1e-12)) << fast - want;
  }
}

// A formula check, not a Monte Carlo one: for VP the share equals DDIM's
// sigma_t(eta) / sqrt(1 - alpha_bar_prev), sigma_t(eta) = eta sqrt((1 - ab_prev) / (1 - ab_t))
// sqrt(1 - ab_t / ab_prev) (Song et al. 2021, eq. 16).
TEST(PartialSubstitutionTest, ShareIsDdimsEtaSigma) {
  auto pipeline = BuildOrFail(OracleText().Text());
  ASSERT_NE(pipeline, nullptr);
  const GaussianCoefficients& g = *pipeline->forward->gaussian();
  for (double eta : {0.0, 0.3, 1.0}) {
    for (auto [t, s] : std::vector<std::pair<double, double>>{{600, 400}, {1000, 980}, {2, 1}}) {
      const double ab_t = g.Alpha(t) * g.Alpha(t), ab_s = g.Alpha(s) * g.Alpha(s);
      const double ddim_sigma =
          eta * std::sqrt((1 - ab_s) / (1 - ab_t)) * std::sqrt(1 - ab_t / ab_s);
      EXPECT_NEAR(PartialSubstitutionShare(*pipeline->forward, eta, t, s),
                  ddim_sigma / std::sqrt(1 - ab_s), 1e-12);
    }
  }
  EXPECT_EQ(PartialSubstitutionShare(*pipeline->forward, 1.0, 5, 0), 0.0);
}

}  // namespace
}  // namespace diffuse
