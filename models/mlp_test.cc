#include "models/mlp.h"

#include <ATen/core/grad_mode.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "assembly/test_support.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/parameterization.h"
#include "models/trainable_model.h"

namespace diffuse {
namespace {

TEST(ParameterizationTest, TargetThenX0RecoversX0ForGeneralCoefficients) {
  at::manual_seed(0);
  const at::Tensor x0 = torch::randn({5, 3}, torch::kFloat64);
  const at::Tensor eps = torch::randn({5, 3}, torch::kFloat64);
  // VP (alpha^2 + sigma^2 = 1), VE-like (alpha = 1) and per-sample coefficients.
  const std::vector<std::pair<at::Tensor, at::Tensor>> coefficients = {
      {torch::scalar_tensor(0.6, torch::kFloat64), torch::scalar_tensor(0.8, torch::kFloat64)},
      {torch::scalar_tensor(1.0, torch::kFloat64), torch::scalar_tensor(7.5, torch::kFloat64)},
      {torch::rand({5, 1}, torch::kFloat64) + 0.1, torch::rand({5, 1}, torch::kFloat64) + 0.1}};
  for (const auto& [alpha, sigma] : coefficients) {
    const at::Tensor x_t = alpha * x0 + sigma * eps;
    for (Parameterization kind : {EPS, X0, V}) {
      const at::Tensor target = TrainingTarget(kind, x0, eps, alpha, sigma);
      EXPECT_TRUE(torch::allclose(OutputToX0(kind, target, x_t, alpha, sigma), x0, 1e-9, 1e-9))
          << Parameterization_Name(kind);
    }
  }
  // v is alpha eps - sigma x0 (Salimans & Ho 2022, sec. 4).
  EXPECT_TRUE(torch::allclose(TrainingTarget(V, x0, eps, coefficients[0].first,
                                             coefficients[0].second),
                              0.6 * eps - 0.8 * x0));
}

// Karras et al. 2022, Table 1 (VE form, alpha = 1) and its alpha-scaled form
// D(x_t) = c_skip(st) x_t / alpha + c_out(st) F(c_in(st) x_t / alpha) for VP coefficients.
TEST(EdmPreconditioningTest, MatchesTableOneAndItsScaledForm) {
  const double sd = 0.5;
  for (double st : {0.002, 0.3, 1.0, 80.0}) {
    const EdmScalings c = EdmPreconditioning(torch::scalar_tensor(1.0, torch::kFloat64),
                                             torch::scalar_tensor(st, torch::kFloat64), sd);
    EXPECT_NEAR(c.c_skip_x.item<double>(), sd * sd / (st * st + sd * sd), 1e-12);
    EXPECT_NEAR(c.c_out.item<double>(), st * sd / std::sqrt(st * st + sd * sd), 1e-12);
    EXPECT_NEAR(c.c_in_x.item<double>(), 1 / std::sqrt(st * st + sd * sd), 1e-12);
    EXPECT_NEAR(c.c_noise.item<double>(), std::log(st) / 4, 1e-12);
  }
  const double alpha = 0.6, sigma = 0.8, st = sigma / alpha;
  const EdmScalings c = EdmPreconditioning(torch::scalar_tensor(alpha, torch::kFloat64),
                                           torch::scalar_tensor(sigma, torch::kFloat64), sd);
  EXPECT_NEAR(c.c_skip_x.item<double>(), sd * sd / (st * st + sd * sd) / alpha, 1e-12);
  EXPECT_NEAR(c.c_in_x.item<double>(), 1 / std::sqrt(st * st + sd * sd) / alpha, 1e-12);
  EXPECT_NEAR(c.c_out.item<double>(), st * sd / std::sqrt(st * st + sd * sd), 1e-12);
  // Finite where alpha = 0 (zero terminal SNR): D = sd * F(x_t / sigma).
  const EdmScalings end = EdmPreconditioning(torch::scalar_tensor(0.0, torch::kFloat64),
                                             torch::scalar_tensor(1.0, torch::kFloat64), sd);
  EXPECT_EQ(end.c_skip_x.item<double>(), 0.0);
  EXPECT_NEAR(end.c_out.item<double>(), sd, 1e-12);
  EXPECT_NEAR(end.c_in_x.item<double>(), 1.0, 1e-12);
  EXPECT_TRUE(std::isfinite(end.c_noise.item<double>()));
}

// The point of the preconditioning (Karras et al. 2022, App. B.6): for data of std sd the
// network input c_in x_t and its training target (x0 - c_skip x_t) / c_out have unit
// variance at every noise level.
TEST(EdmPreconditioningTest, InputAndTargetHaveUnitVariance) {
  const double sd = 1.7;
  const int64_t n = 400000;
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor x0 = sd * torch::randn({n}, gen, torch::kFloat64);
  const at::Tensor eps = torch::randn({n}, gen, torch::kFloat64);
  for (auto [alpha, sigma] : std::vector<std::pair<double, double>>{{1, 0.01}, {0.9, 0.44}, {0.2, 0.98}, {1, 50}}) {
    const EdmScalings c = EdmPreconditioning(torch::scalar_tensor(alpha, torch::kFloat64),
                                             torch::scalar_tensor(sigma, torch::kFloat64), sd);
    const at::Tensor x_t = alpha * x0 + sigma * eps;
    EXPECT_NEAR((c.c_in_x * x_t).var().item<double>(), 1.0, 0.01) << alpha << " " << sigma;
    EXPECT_NEAR(((x0 - c.c_skip_x * x_t) / c.c_out).var().item<double>(), 1.0, 0.01)
        << alpha << " " << sigma;
  }
}

TEST(SinusoidalEmbeddingTest, IsSinThenCosOfGeometricFrequencies) {
  const at::Tensor e = SinusoidalEmbedding(torch::tensor({0.0f, 500.0f}), 8);
  ASSERT_EQ(e.sizes(), (std::vector<int64_t>{2, 8}));
  EXPECT_FLOAT_EQ(e[0][0].item<float>(), 0.0f);
  EXPECT_FLOAT_EQ(e[0][4].item<float>(), 1.0f);
  EXPECT_NEAR(e[1][1].item<float>(), std::sin(500.0 * std::pow(10000.0, -0.25)), 1e-4);
}

const char kMlpPipeline[] = R"(
  data { name: "eight_gaussians" }
  forward { name: "gaussian_vp" }
  predictor { name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
    parameterization: V hidden: 32 blocks: 2 class_conditional: true } } }
  prior { name: "standard_normal" }
  reverse { name: "substitution" }
  training { condition_dropout: 0.1 seed: 5 }
)";

TEST(MlpPredictorTest, SharedAndPerSampleTimesAgreeAndNullLabelIsAccepted) {
  auto p = BuildOrFail(kMlpPipeline);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->predictor->conditions().num_classes, 8);
  EXPECT_TRUE(p->predictor->conditions().null_label);
  at::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({6, 2});
  Condition c;
  c.label = torch::tensor({0, 1, 2, -1, 7, -1}, torch::kLong);
  const at::Tensor shared = p->predictor->Predict(x, 300.0, c).x0;
  const at::Tensor per_sample =
      p->predictor->Predict(x, Time(torch::full({6}, 300.0, torch::kFloat64)), c).x0;
  EXPECT_TRUE(torch::allclose(shared, per_sample, 1e-5, 1e-5));
  // No label at all means the null class.
  Condition null_label;
  null_label.label = torch::full({6}, -1, torch::kLong);
  EXPECT_TRUE(torch::allclose(p->predictor->Predict(x, 300.0, {}).x0,
                              p->predictor->Predict(x, 300.0, null_label).x0));
  TrainingExample e{x, torch::randn({6, 2}), x, Time(torch::full({6}, 10.0, torch::kFloat64)), c};
  EXPECT_EQ(p->predictor->trainable()->Loss(e).sizes(), (std::vector<int64_t>{6}));
}

TEST(MlpPredictorTest, SameSeedSameInitialWeights) {
  auto a = BuildOrFail(kMlpPipeline);
  auto b = BuildOrFail(kMlpPipeline);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const auto pa = a->predictor->trainable()->module().parameters();
  const auto pb = b->predictor->trainable()->module().parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

// The first layer reads [x, sin(2 pi B x), cos(2 pi B x)] (Tancik et al. 2020), B kept as
// a buffer (so in the checkpoint) with entries of std fourier_scale.
TEST(MlpDenoiserTest, FourierFeaturesFeedTheFirstLayer) {
  at::manual_seed(4);
  MlpDenoiser net(MlpDenoiserOptions(2).hidden(8).blocks(1).fourier_features(500).fourier_scale(0.25));
  const auto buffers = net->named_buffers();
  ASSERT_TRUE(buffers.contains("fourier_frequencies"));
  const at::Tensor b = buffers["fourier_frequencies"];
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{500, 2}));
  EXPECT_NEAR(b.std().item<double>(), 0.25, 0.02);
  EXPECT_EQ(net->named_parameters()["input.weight"].size(1), 2 + 2 * 500);

  // With the block zeroed and the output layer reading only the first hidden unit, output 0
  // is SiLU(input(features))[0] and output 1 is 0.
  at::NoGradGuard no_grad;
  auto params = net->named_parameters();
  params["blocks.0.weight"].zero_();
  params["blocks.0.bias"].zero_();
  params["output.weight"].zero_();
  params["output.weight"][0][0] = 1;
  params["output.bias"].zero_();
  const at::Tensor x = torch::randn({5, 2});
  const at::Tensor angle = 2 * M_PI * torch::matmul(x, b.t());
  const at::Tensor features = torch::cat({x, angle.sin(), angle.cos()}, 1);
  const at::Tensor first =
      torch::silu(torch::linear(features, params["input.weight"], params["input.bias"]));
  const at::Tensor out = net(x, torch::full({5}, 100.0), at::Tensor());
  EXPECT_TRUE(torch::allclose(out.select(1, 0), first.select(1, 0), 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(out.select(1, 1), torch::zeros({5}), 0, 0));
}

TEST(MlpPredictorTest, FourierOptionsOutOfRangeAreRefusedByName) {
  for (const char* bad : {"fourier_features: -1", "fourier_scale: 0"}) {
    const std::string text = absl::StrReplaceAll(kMlpPipeline, {{"blocks: 2", absl::StrCat("blocks: 2 ", bad)}});
    const auto built = BuildFromText(text);
    ASSERT_FALSE(built.ok()) << bad;
    EXPECT_THAT(std::string(built.status().message()),
                testing::HasSubstr(std::string(bad).substr(0, std::string(bad).find(':'))));
  }
  // Same seed, same frequencies.
  const std::string text = absl::StrReplaceAll(kMlpPipeline, {{"blocks: 2", "blocks: 2 fourier_features: 8"}});
  auto a = BuildOrFail(text);
  auto b = BuildOrFail(text);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(torch::equal(a->predictor->trainable()->module().named_buffers()["fourier_frequencies"],
                           b->predictor->trainable()->module().named_buffers()["fourier_frequencies"]));
}

}  // namespace
}  // namespace diffuse
