#include "forward/gaussian_vp.h"

#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/randint.h>

#include "forward/vp_schedules.h"
#include "gtest/gtest.h"
#include "random/noise_source.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

TEST(VpSchedulesTest, LinearMatchesDdpm) {
  const std::vector<double> betas = LinearBetas(1000, 1e-4, 0.02);
  ASSERT_EQ(betas.size(), 1000u);
  EXPECT_DOUBLE_EQ(betas.front(), 1e-4);
  EXPECT_DOUBLE_EQ(betas.back(), 0.02);
  const std::vector<double> ab = AlphaBars(betas);
  EXPECT_DOUBLE_EQ(ab[0], 1.0);
  EXPECT_DOUBLE_EQ(ab[1], 1 - 1e-4);
  // Closed form: log alpha_bar_T = sum log(1 - beta_i); DDPM's alpha_bar_T is ~4.04e-5.
  EXPECT_NEAR(ab[1000], 4.0358e-5, 1e-8);
}

TEST(VpSchedulesTest, CosineFollowsItsClosedForm) {
  const double s = 0.008;
  const std::vector<double> ab = AlphaBars(CosineBetas(1000, s, 0.999));
  auto f = [&](double u) { return std::pow(std::cos((u + s) / (1 + s) * M_PI / 2), 2); };
  for (int t : {1, 10, 250, 500, 900}) {
    EXPECT_NEAR(ab[t], f(t / 1000.0) / f(0), 1e-9) << "t=" << t;
  }
}

TEST(VpSchedulesTest, ScaledLinearSquaresALinspaceOfRoots) {
  const std::vector<double> betas = ScaledLinearBetas(3, 0.0001, 0.0004);
  EXPECT_NEAR(betas[1], 0.015 * 0.015, 1e-15);
}

TEST(GaussianVpTest, CoefficientsApplyAndInvertRoundTrip) {
  GaussianVpOptions options;
  options.set_schedule(GaussianVpOptions::COSINE);
  auto vp = MakeGaussianVp(options);
  ASSERT_THAT(vp, IsOk());
  const GaussianCoefficients* g = (*vp)->gaussian();
  ASSERT_NE(g, nullptr);
  for (double t : {0.0, 1.0, 500.0, 1000.0}) {
    EXPECT_NEAR(g->Alpha(t) * g->Alpha(t) + g->Sigma(t) * g->Sigma(t), 1.0, 1e-12);
  }
  PhiloxNoise noise(7);
  at::Tensor x0 = noise.Normal({16, 2});
  at::Tensor eps = noise.Normal({16, 2});
  at::Tensor per_sample = at::randint(1, 1001, {16}, at::kDouble);
  for (const Time& t : {Time(1.0), Time(700.0), Time(per_sample)}) {
    at::Tensor x_t = (*vp)->Apply(x0, t, eps);
    EXPECT_TRUE(at::allclose((*vp)->InvertNoise(x0, x_t, t), eps, 1e-4, 1e-4));
  }
  // Shared and per-sample times agree.
  at::Tensor same = at::full({16}, 700.0, at::kDouble);
  EXPECT_TRUE(at::allclose((*vp)->Apply(x0, Time(same), eps), (*vp)->Apply(x0, 700.0, eps)));
  EXPECT_TRUE(at::equal((*vp)->Apply(x0, 0.0, eps), x0));
}

// EulerDiscreteScheduler at fractional t: sigma = np.interp(t, arange, sigmas), sigmas =
// sqrt((1 - alpha_bar) / alpha_bar); alpha = 1 / sqrt(1 + sigma^2) (its scale_model_input).
TEST(GaussianVpTest, SigmaInterpolationMatchesEulerDiscrete) {
  GaussianVpOptions options;
  options.set_schedule(GaussianVpOptions::SCALED_LINEAR);
  options.set_beta_start(0.00085);
  options.set_beta_end(0.012);
  options.set_interpolation(GaussianVpOptions::SIGMA);
  auto vp = MakeGaussianVp(options);
  ASSERT_THAT(vp, IsOk());
  GaussianVpOptions plain = options;
  plain.set_interpolation(GaussianVpOptions::ALPHA_BAR);
  auto linear_ab = MakeGaussianVp(plain);
  ASSERT_THAT(linear_ab, IsOk());
  const std::vector<double> ab =
      AlphaBars(ScaledLinearBetas(1000, options.beta_start(), options.beta_end()));
  auto sigma_at = [&](int i) { return std::sqrt((1 - ab[i]) / ab[i]); };
  const GaussianCoefficients& g = *(*vp)->gaussian();
  // Our t = diffusers' t + 1; 857.2857055664062 is their 856.2857... (8 Euler steps).
  for (double t : {857.2857055664062, 143.7142791748047, 1.5, 999.25}) {
    const int i = static_cast<int>(std::floor(t));
    const double f = t - i;
    const double sigma = (1 - f) * sigma_at(i) + f * sigma_at(i + 1);
    EXPECT_NEAR(g.Sigma(t) / g.Alpha(t), sigma, 1e-12 * sigma) << t;
    EXPECT_NEAR(g.Alpha(t), 1 / std::sqrt(1 + sigma * sigma), 1e-14) << t;
    // Different from interpolating alpha_bar, equal at the training steps.
    EXPECT_NE(g.Alpha(t), (*linear_ab)->gaussian()->Alpha(t)) << t;
  }
  for (double t : {1.0, 500.0, 1000.0}) {
    EXPECT_EQ(g.Alpha(t), (*linear_ab)->gaussian()->Alpha(t));
  }
  options.set_continuous_time(true);
  options.set_schedule(GaussianVpOptions::LINEAR);
  EXPECT_THAT(MakeGaussianVp(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("interpolation")));
}

TEST(GaussianVpTest, RejectsOptionsOutOfRange) {
  GaussianVpOptions options;
  options.set_num_steps(0);
  EXPECT_THAT(MakeGaussianVp(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_steps")));
  options.set_num_steps(10);
  options.set_beta_end(1.5);
  EXPECT_THAT(MakeGaussianVp(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("beta_end")));
}

}  // namespace
}  // namespace diffuse
