#include "models/gaussian_latent.h"

#include <cmath>

#include <torch/types.h>

#include "gtest/gtest.h"

namespace diffuse {
namespace {

// The closed form against a Monte-Carlo estimate of E_q[log q(z) - log p(z)] from
// reparameterized draws: 400,000 draws put the estimate within 4 standard errors.
TEST(GaussianLatentTest, KlMatchesMonteCarloAndReparameterizedDrawsHaveTheirMoments) {
  at::Generator gen = at::detail::createCPUGenerator(7);
  const int64_t n = 400000;
  const at::Tensor mu = torch::tensor({0.5, -1.0, 2.0}, torch::kFloat64);
  const at::Tensor log_var = torch::tensor({0.0, -1.5, 0.7}, torch::kFloat64);
  LatentPosterior q{mu.expand({n, 3}), log_var.expand({n, 3})};
  const at::Tensor z = Reparameterize(q, torch::randn({n, 3}, gen, torch::kFloat64));
  EXPECT_TRUE(torch::allclose(z.mean(0), mu, 0, 0.02));
  EXPECT_TRUE(torch::allclose(z.var(0).log(), log_var, 0, 0.02));

  const at::Tensor log_q =
      (-0.5 * ((z - mu).square() / log_var.exp() + log_var + std::log(2 * M_PI))).sum(1);
  const at::Tensor log_p = (-0.5 * (z.square() + std::log(2 * M_PI))).sum(1);
  const at::Tensor ratio = log_q - log_p;
  const double estimate = ratio.mean().item<double>();
  const double standard_error = ratio.std().item<double>() / std::sqrt(double(n));
  const double closed = KlToStandardNormal(q)[0].item<double>();
  // 1/2 sum (mu^2 + e^lv - 1 - lv), by hand: 0.125 + 0.861565 + 2.156877 = 3.143441
  EXPECT_NEAR(closed, 3.143441, 1e-6);
  EXPECT_NEAR(estimate, closed, 4 * standard_error);
}

TEST(GaussianLatentTest, KlIsZeroAtThePriorAndGradientsReachBothOutputs) {
  const at::Tensor mu = torch::zeros({2, 4}, torch::requires_grad());
  const at::Tensor log_var = torch::zeros({2, 4}, torch::requires_grad());
  LatentPosterior q{mu, log_var};
  EXPECT_TRUE(torch::equal(KlToStandardNormal(q), torch::zeros({2})));
  (Reparameterize(q, torch::ones({2, 4})).sum() + KlToStandardNormal({mu + 1, log_var}).sum())
      .backward();
  EXPECT_TRUE(torch::allclose(mu.grad(), torch::full({2, 4}, 2.0)));  // 1, and mu + 1
  EXPECT_TRUE(torch::allclose(log_var.grad(), torch::full({2, 4}, 0.5)));  // eps/2, (e^lv - 1)/2
  const LatentPosterior point{torch::ones({3, 2}), at::Tensor()};
  EXPECT_TRUE(torch::equal(Reparameterize(point, torch::randn({3, 2})), point.mean));
  EXPECT_TRUE(torch::equal(KlToStandardNormal(point), torch::zeros({3})));
}

// The diffusion prior term KL(N(alpha x0, sigma^2 I) || N(0, I)) against a Monte-Carlo
// estimate of E_q[log q(x_T | x0) - log N(x_T; 0, I)] over draws x_T = alpha x0 + sigma eps,
// and its limit on a VP path (sigma^2 = 1 - alpha^2) as alpha -> 0.
TEST(GaussianLatentTest, DiffusionPriorKlMatchesMonteCarloAndVanishesAsAlphaGoesToZero) {
  at::Generator gen = at::detail::createCPUGenerator(11);
  const at::Tensor x0 = torch::tensor({{0.8, -0.4, 0.1, 1.0}, {0.0, 0.0, 0.0, 0.0}}, torch::kFloat64)
                            .view({2, 1, 2, 2});
  const double alpha = 0.6, sigma = 0.7;  // not a VP pair: the general Gaussian case
  const at::Tensor closed = DiffusionPriorKl(x0, alpha, sigma);
  ASSERT_EQ(closed.sizes(), at::IntArrayRef({2}));
  const int64_t n = 400000;
  for (int64_t i = 0; i < 2; ++i) {
    const at::Tensor mean = (alpha * x0[i]).flatten();
    const at::Tensor x_t = mean + sigma * torch::randn({n, 4}, gen, torch::kFloat64);
    const at::Tensor ratio =
        (-0.5 * (x_t - mean).square() / (sigma * sigma) - std::log(sigma) + 0.5 * x_t.square()).sum(1);
    const double standard_error = ratio.std().item<double>() / std::sqrt(double(n));
    EXPECT_NEAR(ratio.mean().item<double>(), closed[i].item<double>(), 4 * standard_error) << i;
  }
  // 1/2 sum (alpha^2 x0^2 + sigma^2 - 1 - log sigma^2), by hand for sample 0.
  const double by_hand = 0.5 * (0.36 * (0.64 + 0.16 + 0.01 + 1.0) + 4 * (0.49 - 1 - std::log(0.49)));
  EXPECT_NEAR(closed[0].item<double>(), by_hand, 1e-12);
  double previous = INFINITY;
  for (const double a : {0.5, 0.1, 1e-2, 1e-4}) {
    const double kl = DiffusionPriorKl(x0, a, std::sqrt(1 - a * a))[0].item<double>();
    EXPECT_LT(kl, previous) << a;
    previous = kl;
  }
  EXPECT_LT(previous, 1e-7);
  EXPECT_EQ(DiffusionPriorKl(x0, 0, 1)[0].item<double>(), 0);
}

// The observation model of a decoder against the normal density written out, and by hand:
// x - mean = (0.3, -0.1), std = 0.5: (0.09 + 0.01) / (2 * 0.25) + 2 (log 0.5 + log(2 pi) / 2)
// = 0.2 - 1.386294 + 1.837877 = 0.651583 nats.
TEST(GaussianLatentTest, NegativeLogLikelihoodIsTheNormalDensity) {
  const at::Tensor x = torch::tensor({{1.0, 2.0}, {0.0, 0.0}}, torch::kFloat64);
  const at::Tensor mean = torch::tensor({{0.7, 2.1}, {0.5, -0.5}}, torch::kFloat64);
  const at::Tensor log_std = torch::tensor(std::log(0.5), torch::kFloat64);
  const at::Tensor nll = GaussianNegativeLogLikelihood(x, mean, log_std);
  ASSERT_EQ(nll.sizes(), at::IntArrayRef({2}));
  EXPECT_NEAR(nll[0].item<double>(), 0.651583, 1e-6);
  const at::Tensor density =
      torch::exp(-(x - mean).square() / (2 * 0.25)) / std::sqrt(2 * M_PI * 0.25);
  EXPECT_TRUE(torch::allclose(nll, -density.log().sum(1), 1e-12, 1e-12));
  // Image-shaped samples sum over every element.
  const at::Tensor images = torch::zeros({3, 1, 2, 2}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(GaussianNegativeLogLikelihood(images, images, log_std),
                              torch::full({3}, 4 * (std::log(0.5) + 0.5 * std::log(2 * M_PI)),
                                          torch::kFloat64)));
}

}  // namespace
}  // namespace diffuse
