#include "models/mmd.h"

#include <cmath>

#include <torch/types.h>

#include "gtest/gtest.h"

namespace diffuse {
namespace {

// For P = N(a, I) and Q = N(b, I) in D dimensions and k = exp(-||x - y||^2 / (2s)):
// E k(x, y) = (s / (s + 2))^(D/2) exp(-||a - b||^2 / (2 (s + 2))), since x - y ~ N(a - b, 2I),
// so MMD^2 = 2 (s / (s + 2))^(D/2) (1 - exp(-||a - b||^2 / (2 (s + 2)))), with s = D here.
double RbfClosedForm(int64_t d, double shift_squared) {
  const double s = d;
  return 2 * std::pow(s / (s + 2), d / 2.0) * (1 - std::exp(-shift_squared / (2 * (s + 2))));
}

TEST(MmdTest, RbfEstimateMatchesTheClosedFormBetweenShiftedGaussians) {
  at::Generator gen = at::detail::createCPUGenerator(3);
  const int64_t d = 4, n = 256, repeats = 200;
  const at::Tensor shift = torch::tensor({1.0, 0.0, -0.5, 0.0}, torch::kFloat64);
  const double expected = RbfClosedForm(d, shift.square().sum().item<double>());
  double sum = 0, sum_sq = 0;
  for (int r = 0; r < repeats; ++r) {
    const double m = MmdSquared(torch::randn({n, d}, gen, torch::kFloat64) + shift,
                                torch::randn({n, d}, gen, torch::kFloat64), MmdKernel::kRbf)
                         .item<double>();
    sum += m;
    sum_sq += m * m;
  }
  const double mean = sum / repeats;
  const double standard_error = std::sqrt((sum_sq / repeats - mean * mean) / repeats);
  EXPECT_NEAR(mean, expected, 4 * standard_error) << "closed form " << expected;
  EXPECT_GT(expected, 10 * standard_error);  // the test can tell a shift from none
}

// Unbiased: between two samples of one distribution the estimates average to 0 (each can
// be negative), for both kernels.
TEST(MmdTest, UnbiasedAtZeroForEitherKernel) {
  for (MmdKernel kernel : {MmdKernel::kRbf, MmdKernel::kInverseMultiquadric}) {
    at::Generator gen = at::detail::createCPUGenerator(5);
    double sum = 0, sum_sq = 0;
    bool negative = false;
    const int repeats = 300;
    for (int r = 0; r < repeats; ++r) {
      const double m = MmdSquared(torch::randn({64, 3}, gen, torch::kFloat64),
                                  torch::randn({64, 3}, gen, torch::kFloat64), kernel)
                           .item<double>();
      negative |= m < 0;
      sum += m;
      sum_sq += m * m;
    }
    const double mean = sum / repeats;
    EXPECT_NEAR(mean, 0, 4 * std::sqrt((sum_sq / repeats - mean * mean) / repeats));
    EXPECT_TRUE(negative);
  }
}

// By hand on two points each, width 1 (2D = 2): x = {0, 1}, y = {0, 2}.
// IMQ: k(x0,x1) = 2/3; k(y0,y1) = 2/6; cross: k(0,0)=1, k(0,2)=1/3, k(1,0)=2/3, k(1,2)=2/3
// MMD^2 = 2/3 + 1/3 - 2 * (1 + 1/3 + 2/3 + 2/3) / 4 = 1 - 4/3 = -1/3.
TEST(MmdTest, InverseMultiquadricByHand) {
  const at::Tensor x = torch::tensor({{0.0}, {1.0}}, torch::kFloat64);
  const at::Tensor y = torch::tensor({{0.0}, {2.0}}, torch::kFloat64);
  EXPECT_NEAR(MmdSquared(x, y, MmdKernel::kInverseMultiquadric).item<double>(), -1.0 / 3, 1e-12);
  // Differentiable: the gradient pulls x toward y's spread.
  const at::Tensor z = torch::tensor({{0.0}, {1.0}}, torch::dtype(torch::kFloat64).requires_grad(true));
  MmdSquared(z, y, MmdKernel::kRbf).backward();
  EXPECT_TRUE(z.grad().abs().sum().item<double>() > 0);
}

}  // namespace
}  // namespace diffuse
