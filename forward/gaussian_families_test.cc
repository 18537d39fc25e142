// Every Gaussian forward configuration: F_t^{-1}(x0, F_t(x0, eps)) == eps, and the
// coefficients against their closed forms.
#include <cmath>

#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>

#include "assembly/test_support.h"
#include "forward/vp_schedules.h"
#include "gtest/gtest.h"

namespace diffuse {
namespace {

std::unique_ptr<Pipeline> Build(const std::string& forward) {
  OracleText text;
  text.forward = forward;
  text.prior = R"(name: "forward_terminal")";
  return BuildOrFail(text.Text());
}

std::string Vp(const std::string& options) {
  return "name: \"gaussian_vp\" options { [type.googleapis.com/diffuse.GaussianVpOptions] { " +
         options + " } }";
}

class GaussianFamilyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GaussianFamilyTest, InvertNoiseUndoesApplyAtEveryTime) {
  auto p = Build(GetParam());
  ASSERT_NE(p, nullptr);
  const ForwardProcess& f = *p->forward;
  const double t_max = f.time_domain().t_max();
  at::manual_seed(1);
  const at::Tensor x0 = at::randn({64, 2}, at::kDouble);
  const at::Tensor eps = at::randn({64, 2}, at::kDouble);
  for (double u : {0.01, 0.3, 0.77, 1.0}) {
    const double t = f.time_domain().discrete ? std::round(u * t_max) : u * t_max;
    const at::Tensor x_t = f.Apply(x0, t, eps);
    EXPECT_TRUE(at::allclose(f.InvertNoise(x0, x_t, t), eps, 1e-9, 1e-9)) << "t=" << t;
  }
  const at::Tensor per_sample = at::rand({64}, at::kDouble) * t_max;
  const at::Tensor t = f.time_domain().discrete ? per_sample.ceil() : per_sample;
  const at::Tensor x_t = f.Apply(x0, Time(t), eps);
  EXPECT_TRUE(at::allclose(f.InvertNoise(x0, x_t, Time(t)), eps, 1e-9, 1e-9));
  EXPECT_TRUE(at::equal(f.Apply(x0, 0.0, eps), x0));
  // sigma_tilde = sigma / alpha increases with t (samplers and the KARRAS grid rely on it).
  const GaussianCoefficients& g = *f.gaussian();
  double last = -1;
  for (int k = 1; k < 100; ++k) {
    const double tk = k * t_max / 100;
    const double st = g.Sigma(tk) / g.Alpha(tk);
    EXPECT_GT(st, last) << "t=" << tk;
    last = st;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Configurations, GaussianFamilyTest,
    ::testing::Values(Vp("schedule: LINEAR"), Vp("schedule: COSINE"),
                      Vp("schedule: SIGMOID"), Vp("schedule: SCALED_LINEAR beta_end: 0.012"),
                      Vp("schedule: LINEAR continuous_time: true"),
                      Vp("schedule: COSINE continuous_time: true"),
                      Vp("schedule: SIGMOID continuous_time: true"),
                      Vp("schedule: COSINE zero_terminal_snr: true"),
                      Vp("schedule: LINEAR continuous_time: true zero_terminal_snr: true"),
                      R"(name: "gaussian_ve")", R"(name: "flow")"));

TEST(GaussianFamilyTest, ClosedForms) {
  // VE: geometric sigma, sigma(1/2) = sqrt(sigma_min sigma_max), alpha = 1.
  auto ve = Build(R"(name: "gaussian_ve" options {
      [type.googleapis.com/diffuse.GaussianVeOptions] { sigma_min: 0.01 sigma_max: 100 } })");
  ASSERT_NE(ve, nullptr);
  EXPECT_NEAR(ve->forward->gaussian()->Sigma(0.5), 1.0, 1e-12);
  EXPECT_EQ(ve->forward->gaussian()->Alpha(0.5), 1.0);
  EXPECT_EQ(ve->forward->gaussian()->Sigma(0.0), 0.0);
  // Flow: alpha = 1 - t, sigma = t.
  auto flow = Build(R"(name: "flow")");
  EXPECT_EQ(flow->forward->gaussian()->Alpha(0.25), 0.75);
  EXPECT_EQ(flow->forward->gaussian()->Sigma(0.25), 0.25);
  // Sigmoid: symmetric around u = 1/2, where alpha_bar = 1/2 (Chen 2023, Alg. 1).
  auto sigmoid = Build(Vp("schedule: SIGMOID continuous_time: true"));
  EXPECT_NEAR(std::pow(sigmoid->forward->gaussian()->Alpha(0.5), 2), 0.5, 1e-12);
  EXPECT_NEAR(SigmoidAlphaBar(0.5, -3, 3, 1), 0.5, 1e-15);
  // Continuous linear VP is the VP SDE whose Euler discretization is DDPM: its exponent
  // -log alpha_bar(t / T) = integral of beta matches DDPM's sum of betas within 1%.
  auto discrete = Build(Vp("schedule: LINEAR"));
  auto continuous = Build(Vp("schedule: LINEAR continuous_time: true"));
  const std::vector<double> betas = LinearBetas(1000, 1e-4, 0.02);
  for (int t : {100, 500, 800}) {
    double sum = 0;
    for (int i = 0; i < t; ++i) sum += betas[i];
    const double exponent = -2 * std::log(continuous->forward->gaussian()->Alpha(t / 1000.0));
    EXPECT_NEAR(exponent / sum, 1.0, 0.01) << t;
  }
  // Fractional discrete time interpolates alpha_bar linearly.
  const GaussianCoefficients& d = *discrete->forward->gaussian();
  EXPECT_NEAR(std::pow(d.Alpha(2.5), 2), 0.5 * (std::pow(d.Alpha(2), 2) + std::pow(d.Alpha(3), 2)),
              1e-15);
}

TEST(GaussianFamilyTest, ZeroTerminalSnrEndsAtPureNoiseAndKeepsTheFirstStep) {
  auto plain = Build(Vp("schedule: LINEAR"));
  auto zero = Build(Vp("schedule: LINEAR zero_terminal_snr: true"));
  EXPECT_EQ(zero->forward->gaussian()->Alpha(1000), 0.0);
  EXPECT_EQ(zero->forward->gaussian()->Sigma(1000), 1.0);
  EXPECT_NEAR(zero->forward->gaussian()->Alpha(1), plain->forward->gaussian()->Alpha(1), 1e-15);
  // Lin et al. 2024: SNR at T drops from ~4e-5 to 0, mid-schedule changes are small.
  EXPECT_NEAR(zero->forward->gaussian()->Alpha(500) / plain->forward->gaussian()->Alpha(500),
              1.0, 0.05);
}

}  // namespace
}  // namespace diffuse
