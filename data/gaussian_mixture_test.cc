// Any Gaussian mixture as data: exact quantities against direct linear algebra, sampling
// against the closed-form moments, and the description's checks.
#include "data/gaussian_mixture.h"

#include <cmath>

#include <torch/types.h>
#include <torch/linalg.h>  // after types.h: it does not include it

#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

// A 3-D mixture with full, diagonal-free covariances (util/testdata/mixture.npz holds it).
struct Reference {
  at::Tensor means = torch::tensor({0., 0., 1., 2., -1., 0.5}, torch::kFloat64).view({2, 3});
  at::Tensor covs = torch::tensor({1., 0.3, 0., 0.3, 0.5, 0.1, 0., 0.1, 0.2,  //
                                   0.2, 0., 0., 0., 0.3, 0., 0., 0., 0.4},
                                  torch::kFloat64)
                        .view({2, 3, 3});
  at::Tensor weights = torch::tensor({0.25, 0.75}, torch::kFloat64);
  at::Tensor labels = torch::tensor({0, 1}, torch::kLong);
};

// log N(x; m, S) and E[x0 | x_t, k] by inverse and slogdet, per component.
TEST(GaussianMixtureTest, FullCovarianceQuantitiesMatchDirectLinearAlgebra) {
  Reference ref;
  GaussianMixture m = GaussianMixture::WithCovariances(ref.means, ref.covs, ref.weights, ref.labels);
  at::Generator gen = at::detail::createCPUGenerator(1);
  const at::Tensor x = torch::randn({5, 3}, gen, torch::kFloat64) * 2;
  for (double a : {1.0, 0.7, 0.1}) {
    const double s = a == 1.0 ? 0.0 : std::sqrt(1 - a * a);
    const at::Tensor alpha = torch::scalar_tensor(a, torch::kFloat64);
    const at::Tensor sigma = torch::scalar_tensor(s, torch::kFloat64);
    std::vector<at::Tensor> logs, means;
    for (int k = 0; k < 2; ++k) {
      const at::Tensor cov = a * a * ref.covs[k] + s * s * torch::eye(3, torch::kFloat64);
      const at::Tensor inv = torch::linalg::inv(cov);
      const at::Tensor d = x - a * ref.means[k];                           // [5, 3]
      const at::Tensor quad = (torch::matmul(d, inv) * d).sum(1);
      const double logdet = std::get<1>(torch::linalg::slogdet(cov)).item<double>();
      logs.push_back(std::log(ref.weights[k].item<double>()) - 0.5 * (3 * std::log(2 * M_PI) + logdet) -
                     0.5 * quad);
      means.push_back(ref.means[k] + a * torch::matmul(torch::matmul(d, inv), ref.covs[k]));
    }
    const at::Tensor joint = torch::stack(logs, 1);                         // [5, 2]
    const at::Tensor r = joint.softmax(1);
    const at::Tensor want_mean = r.select(1, 0).unsqueeze(1) * means[0] +
                                 r.select(1, 1).unsqueeze(1) * means[1];
    EXPECT_TRUE(torch::allclose(m.LogProb(x, alpha, sigma), joint.logsumexp(1), 1e-10, 1e-10)) << a;
    EXPECT_TRUE(torch::allclose(m.PosteriorMean(x, alpha, sigma), want_mean, 1e-10, 1e-10)) << a;
    // Class-conditional: component k alone.
    const at::Tensor label1 = torch::ones({5}, torch::kLong);
    EXPECT_TRUE(torch::allclose(m.PosteriorMean(x, alpha, sigma, label1), means[1], 1e-10, 1e-10));
    EXPECT_TRUE(torch::allclose(m.LogProb(x, alpha, sigma, label1),
                                logs[1] - std::log(0.75), 1e-10, 1e-10));
  }
}

// Mixture mean sum w mu and covariance sum w (C + mu mu^T) - m m^T, by Monte Carlo.
TEST(GaussianMixtureTest, SamplesHaveTheClosedFormMoments) {
  Reference ref;
  GaussianMixture m = GaussianMixture::WithCovariances(ref.means, ref.covs, ref.weights, ref.labels);
  at::Generator gen = at::detail::createCPUGenerator(2);
  const int64_t n = 400000;
  const at::Tensor x = m.Sample(n, gen).to(torch::kFloat64);
  const at::Tensor w = ref.weights.view({2, 1, 1});
  const at::Tensor mean = (ref.weights.unsqueeze(1) * ref.means).sum(0);
  const at::Tensor second =
      (w * (ref.covs + ref.means.unsqueeze(2) * ref.means.unsqueeze(1))).sum(0);
  const at::Tensor cov = second - mean.unsqueeze(1) * mean.unsqueeze(0);
  const at::Tensor sample_mean = x.mean(0);
  const at::Tensor centered = x - sample_mean;
  const at::Tensor sample_cov = torch::matmul(centered.t(), centered) / (n - 1);
  // Standard errors are about sqrt(var / n) < 2.5e-3; 5 of them.
  EXPECT_LT((sample_mean - mean).abs().max().item<double>(), 0.0125);
  EXPECT_LT((sample_cov - cov).abs().max().item<double>(), 0.02);
}

constexpr char kFullCovariance[] = R"(
  name: "gaussian_mixture"
  options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
    component { mean: [0, 0, 1] covariance: [1, 0.3, 0, 0.3, 0.5, 0.1, 0, 0.1, 0.2] weight: 0.25 }
    component { mean: [2, -1, 0.5] std: [0.4472135954999579, 0.5477225575051661, 0.6324555320336759]
                weight: 0.75 }
  } })";

// The description's components and the numpy file give the same mixture, and DDIM with the
// exact oracle on it reproduces its moments.
TEST(GaussianMixtureDataTest, ComponentsAndNpzFileAgreeAndTheOracleSamplesIt) {
  OracleText text;
  text.data = kFullCovariance;
  text.sampler = "num_steps: 100 dtype: FLOAT64";
  std::unique_ptr<Pipeline> p = BuildOrFail(text.Text());
  text.data = R"(name: "gaussian_mixture" options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
      file: "util/testdata/mixture.npz" } })";
  std::unique_ptr<Pipeline> q = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(p->data->sample_shape(), std::vector<int64_t>{3});
  EXPECT_EQ(p->data->num_classes(), 2);
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor x = torch::randn({7, 3}, gen, torch::kFloat64);
  const at::Tensor a = torch::scalar_tensor(0.6, torch::kFloat64);
  const at::Tensor s = torch::scalar_tensor(0.8, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(p->data->mixture()->LogProb(x, a, s),
                              q->data->mixture()->LogProb(x, a, s), 1e-12, 1e-12));
  GenerateRequest request;
  request.num = 8000;
  request.seed = 4;
  absl::StatusOr<Generated> g = Generate(*q, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->samples.scalar_type(), torch::kFloat64);
  // Labels go round-robin 0, 1 and the class-conditional oracle samples each class exactly:
  // half the samples per component, so the sample mean is the equal-weight mean (standard
  // error < 0.01).
  Reference ref;
  EXPECT_LT((g->samples.mean(0) - ref.means.mean(0)).abs().max().item<double>(), 0.05);
  const at::Tensor class1 = g->samples.index({torch::indexing::Slice(1, torch::indexing::None, 2)});
  EXPECT_LT((class1.mean(0) - ref.means[1]).abs().max().item<double>(), 0.05);
}

TEST(GaussianMixtureDataTest, BadOptionsNameTheField) {
  OracleText text;
  text.data = R"(name: "gaussian_mixture" options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
      component { mean: [0, 0] covariance: [1, 2, 2, 1] } } })";
  EXPECT_THAT(BuildFromText(text.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("covariance of component 0 is not positive definite")));
  text.data = R"(name: "gaussian_mixture" options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
      component { mean: [0, 0] } component { mean: [1] } } })";
  EXPECT_THAT(BuildFromText(text.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("component[1].mean")));
  text.data = R"(name: "gaussian_mixture" options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
      component { mean: [0, 0] std: [1, 0] } } })";
  EXPECT_THAT(BuildFromText(text.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("stds must be finite and > 0")));
  text.data = R"(name: "gaussian_mixture" options { [type.googleapis.com/diffuse.GaussianMixtureOptions] {
      file: "no/such/mixture.npz" } })";
  EXPECT_THAT(BuildFromText(text.Text()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("no/such/mixture.npz")));
  text.data = R"(name: "gaussian_mixture")";
  EXPECT_THAT(BuildFromText(text.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("either option component")));
}

}  // namespace
}  // namespace diffuse
