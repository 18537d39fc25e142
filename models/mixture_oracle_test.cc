// The analytic x0-oracle against Monte Carlo: E[x0 | x_t] estimated by self-normalized
// importance sampling over exact draws of x0, weights q(x_t | x0).
#include <torch/types.h>

#include "assembly/test_support.h"
#include "data/gaussian_mixture.h"
#include "gtest/gtest.h"

namespace diffuse {
namespace {

at::Tensor MonteCarloPosteriorMean(const at::Tensor& x0, const at::Tensor& x_t, double alpha,
                                   double sigma) {
  // log q(x_t | x0_i) up to a constant, [B, N].
  at::Tensor log_w = -(x_t.unsqueeze(1) - alpha * x0.unsqueeze(0)).pow(2).sum(2) /
                     (2 * sigma * sigma);
  return torch::matmul(log_w.softmax(1), x0);
}

TEST(MixtureOracleTest, PosteriorMeanMatchesMonteCarlo) {
  const GaussianMixture mixture = EightGaussians(4.0, 0.3);
  at::Generator gen = at::detail::createCPUGenerator(3);
  at::Tensor component;
  const at::Tensor x0 = mixture.Sample(400000, gen, &component).to(torch::kFloat64);
  for (double alpha : {0.95, 0.7, 0.4}) {
    const double sigma = std::sqrt(1 - alpha * alpha);
    // Typical states: noised draws (far from all mass the estimator has no samples).
    const at::Tensor x_t = alpha * mixture.Sample(4, gen).to(torch::kFloat64) +
                           sigma * torch::randn({4, 2}, gen, torch::kFloat64);
    const at::Tensor exact = mixture.PosteriorMean(
        x_t, torch::scalar_tensor(alpha, torch::kFloat64),
        torch::scalar_tensor(sigma, torch::kFloat64));
    const at::Tensor mc = MonteCarloPosteriorMean(x0, x_t, alpha, sigma);
    EXPECT_TRUE(torch::allclose(exact, mc, 0, 0.03))
        << "alpha=" << alpha << "\nexact\n" << exact << "\nmc\n" << mc;
    // Class-conditional: restrict the draws to class 2's component, at states of class 2.
    const at::Tensor in_class = x0.index({component.eq(2)});
    const at::Tensor x_t_class = alpha * in_class.slice(0, 0, 4) +
                                 sigma * torch::randn({4, 2}, gen, torch::kFloat64);
    const at::Tensor label = torch::full({4}, 2, torch::kLong);
    const at::Tensor exact_c = mixture.PosteriorMean(
        x_t_class, torch::scalar_tensor(alpha, torch::kFloat64),
        torch::scalar_tensor(sigma, torch::kFloat64), label);
    EXPECT_TRUE(torch::allclose(exact_c, MonteCarloPosteriorMean(in_class, x_t_class, alpha, sigma),
                                0, 0.03))
        << "alpha=" << alpha;
  }
}

TEST(MixtureOracleTest, LogProbIsTheNoisedMixtureDensity) {
  const GaussianMixture mixture = EightGaussians(4.0, 0.3);
  // A single mode at the origin would be N(0, (a^2 s^2 + sigma^2) I); check one point of the
  // ring by direct summation.
  const double a = 0.8, s = 0.6;
  const at::Tensor x = torch::tensor({{1.0, -2.0}}, torch::kFloat64);
  double density = 0;
  const double v = a * a * 0.09 + s * s;
  for (int k = 0; k < 8; ++k) {
    const double mx = a * 4 * std::cos(2 * M_PI * k / 8), my = a * 4 * std::sin(2 * M_PI * k / 8);
    const double d2 = (1 - mx) * (1 - mx) + (-2 - my) * (-2 - my);
    density += 0.125 * std::exp(-d2 / (2 * v)) / (2 * M_PI * v);
  }
  EXPECT_NEAR(mixture
                  .LogProb(x, torch::scalar_tensor(a, torch::kFloat64),
                           torch::scalar_tensor(s, torch::kFloat64))
                  .item<double>(),
              std::log(density), 1e-10);
}

TEST(MixtureOracleTest, PredictorAgreesWithMixtureAndIsIdentityAtTimeZero) {
  auto pipeline = BuildOrFail(OracleText().Text());
  ASSERT_NE(pipeline, nullptr);
  const at::Tensor x = torch::tensor({{1.0f, 2.0f}, {-3.5f, 0.1f}});
  EXPECT_TRUE(torch::allclose(pipeline->predictor->Predict(x, 0.0, {}).x0, x));
  const GaussianCoefficients& g = *pipeline->forward->gaussian();
  const at::Tensor expected = pipeline->data->mixture()->PosteriorMean(
      x, torch::scalar_tensor(g.Alpha(300.0), torch::kFloat64),
      torch::scalar_tensor(g.Sigma(300.0), torch::kFloat64));
  EXPECT_TRUE(torch::allclose(pipeline->predictor->Predict(x, 300.0, {}).x0, expected));
}

}  // namespace
}  // namespace diffuse
