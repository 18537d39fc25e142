#include "eval/frechet_distance.h"

#include <cmath>

#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/linalg.h>  // after types.h: it does not include it

#include "util/status_matchers.h"

namespace diffuse {
namespace {

FeatureStatistics Gaussian(at::Tensor mean, at::Tensor covariance) {
  FeatureStatistics s;
  s.mean = mean.to(torch::kFloat64);
  s.covariance = covariance.to(torch::kFloat64);
  s.count = 1000;
  return s;
}

at::Tensor RandomRotation(int64_t d, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto [q, r] = torch::linalg::qr(torch::randn({d, d}, gen, torch::kFloat64), "reduced");
  return q;
}

TEST(FrechetDistanceTest, OneDimensionIsSquaredMeanAndStdDifference) {
  ASSERT_OK_AND_ASSIGN(
      double d, FrechetDistance(Gaussian(torch::tensor({1.5}), torch::tensor({{4.0}})),
                                Gaussian(torch::tensor({-0.5}), torch::tensor({{0.25}}))));
  EXPECT_NEAR(d, 2.0 * 2.0 + (2.0 - 0.5) * (2.0 - 0.5), 1e-12);
}

TEST(FrechetDistanceTest, CommutingCovariancesCompareEigenvalueRoots) {
  // S_a = Q diag(a) Q^T, S_b = Q diag(b) Q^T: d^2 = |dmu|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
  const at::Tensor q = RandomRotation(6, 3);
  const at::Tensor a = torch::tensor({0.1, 0.5, 1.0, 2.0, 3.0, 9.0}, torch::kFloat64);
  const at::Tensor b = torch::tensor({1.0, 0.5, 4.0, 0.2, 3.0, 1.0}, torch::kFloat64);
  const at::Tensor mu_a = torch::arange(6, torch::kFloat64);
  const at::Tensor mu_b = mu_a.flip(0);
  ASSERT_OK_AND_ASSIGN(
      double d, FrechetDistance(Gaussian(mu_a, q.matmul(torch::diag(a)).matmul(q.t())),
                                Gaussian(mu_b, q.matmul(torch::diag(b)).matmul(q.t()))));
  const double expected = (mu_a - mu_b).pow(2).sum().item<double>() +
                          (a.sqrt() - b.sqrt()).pow(2).sum().item<double>();
  EXPECT_NEAR(d, expected, 1e-9 * expected);
}

TEST(FrechetDistanceTest, NonCommuting2x2MatchesClosedForm) {
  // For 2x2 PSD M, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); M = S_a^1/2 S_b S_a^1/2 has
  // tr M = tr(S_a S_b) and det M = det S_a det S_b.
  const at::Tensor s_a = torch::tensor({{2.0, 0.7}, {0.7, 1.0}}, torch::kFloat64);
  const at::Tensor s_b = torch::tensor({{0.5, -0.3}, {-0.3, 3.0}}, torch::kFloat64);
  const double tr_sqrt = std::sqrt(s_a.matmul(s_b).trace().item<double>() +
                                   2 * std::sqrt(s_a.det().item<double>() * s_b.det().item<double>()));
  const double expected = 1.0 + 3.0 + 3.5 - 2 * tr_sqrt;  // |(1, 0)|^2 + tr S_a + tr S_b
  ASSERT_OK_AND_ASSIGN(
      double d, FrechetDistance(Gaussian(torch::tensor({1.0, 0.0}), s_a),
                                Gaussian(torch::tensor({0.0, 0.0}), s_b)));
  EXPECT_NEAR(d, expected, 1e-12);
  ASSERT_OK_AND_ASSIGN(double reversed,
                       FrechetDistance(Gaussian(torch::tensor({0.0, 0.0}), s_b),
                                       Gaussian(torch::tensor({1.0, 0.0}), s_a)));
  EXPECT_NEAR(reversed, expected, 1e-12);
}

TEST(FrechetDistanceTest, SameStatisticsGiveZeroAndSingularCovariancesWork) {
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::Tensor x = torch::randn({8, 3}, gen, torch::kFloat64);
  const at::Tensor singular = x.t().matmul(x);  // rank 3 of 8
  ASSERT_OK_AND_ASSIGN(double d, FrechetDistance(Gaussian(x[0], singular),
                                                  Gaussian(x[0], singular)));
  EXPECT_NEAR(d, 0.0, 1e-9);
}

TEST(FrechetDistanceTest, StatisticsOfSamplesConvergeToTheExactDistance) {
  // Features drawn from the two Gaussians of the commuting case: the plug-in estimate is
  // consistent (its bias is O(D / N)).
  const int64_t n = 200000;
  at::Generator gen = at::detail::createCPUGenerator(9);
  const at::Tensor q = RandomRotation(3, 4);
  const at::Tensor sd_a = torch::tensor({0.5, 1.0, 2.0}, torch::kFloat64);
  const at::Tensor sd_b = torch::tensor({1.0, 1.0, 1.0}, torch::kFloat64);
  const at::Tensor fa = (torch::randn({n, 3}, gen, torch::kFloat64) * sd_a).matmul(q.t()) + 1.0;
  const at::Tensor fb = (torch::randn({n, 3}, gen, torch::kFloat64) * sd_b).matmul(q.t());
  ASSERT_OK_AND_ASSIGN(FeatureStatistics a, ComputeFeatureStatistics(fa));
  ASSERT_OK_AND_ASSIGN(FeatureStatistics b, ComputeFeatureStatistics(fb));
  EXPECT_EQ(a.count, n);
  ASSERT_OK_AND_ASSIGN(double d, FrechetDistance(a, b));
  const double exact = 3.0 + 0.25 + 0.0 + 1.0;  // |1|^2 * 3 + sum (sd_a - sd_b)^2
  EXPECT_NEAR(d, exact, 0.03);
}

TEST(FrechetDistanceTest, BadInputIsAnError) {
  EXPECT_FALSE(ComputeFeatureStatistics(torch::zeros({1, 4})).ok());
  EXPECT_FALSE(ComputeFeatureStatistics(torch::zeros({4})).ok());
  at::Tensor f = torch::zeros({4, 2});
  f[1][1] = std::nan("");
  EXPECT_FALSE(ComputeFeatureStatistics(f).ok());
  const absl::StatusOr<double> d =
      FrechetDistance(Gaussian(torch::zeros({2}), torch::eye(2)),
                      Gaussian(torch::zeros({3}), torch::eye(3)));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("2 vs 3"), std::string::npos);
}

}  // namespace
}  // namespace diffuse
