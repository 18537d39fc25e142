// Guidance moves samples toward the requested class; classifier-free guidance is exactly
// (1 + w) x0(c) - w x0(c_neg).
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "assembly/test_support.h"
#include "eval/mixture_metrics.h"
#include "gtest/gtest.h"
#include "reverse/sampler.h"
#include "util/npy.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

const char kUnconditional[] = R"(name: "mixture_oracle" options {
    [type.googleapis.com/diffuse.MixtureOracleOptions] { class_conditional: false } })";

// Samples with label 2, and the fraction whose most likely mode is 2, plus the mean exact
// log p(class 2 | x0).
std::pair<double, double> ClassFidelity(Pipeline& p, int64_t n) {
  PhiloxNoise noise(21);
  Condition c;
  c.label = torch::full({n}, 2, torch::kLong);
  const at::Tensor x = RunReverseProcess(p.sampling(), p.prior->Sample(n, {2}, noise).x_start,
                                         p.times, c, noise);
  const GaussianMixture& m = *p.data->mixture();
  const at::Tensor one = torch::scalar_tensor(1.0, torch::kFloat64);
  const at::Tensor zero = torch::scalar_tensor(0.0, torch::kFloat64);
  const at::Tensor xd = x.to(torch::kFloat64);
  const double in_class = m.Responsibilities(xd, one, zero).argmax(1).eq(2).to(torch::kFloat64)
                              .mean().item<double>();
  const double log_p = (m.LogProb(xd, one, zero, c.label) + std::log(1.0 / 8) -
                        m.LogProb(xd, one, zero)).mean().item<double>();
  return {in_class, log_p};
}

// In float64 the guided x0_hat is the closed form to 1e-10: E[x0 | x_t] + s sigma^2 / alpha
// grad log p(y | x_t), with grad log p(y | x_t) = sum_k (r_k^y - r_k) grad log N_k(x_t) and
// grad log N_k = -(x_t - alpha mu_k) / v (eight_gaussians: std 0.3, one mode per class).
TEST(ClassifierGuidanceTest, Float64GuidanceIsTheClosedForm) {
  OracleText text;
  text.predictor = kUnconditional;
  text.guidance = "guidance { name: \"classifier\" options { "
                  "[type.googleapis.com/diffuse.ClassifierGuidanceOptions] { scale: 2 "
                  "classifier { name: \"mixture_oracle\" } } } }";
  text.sampler = "num_steps: 50 dtype: FLOAT64";
  std::unique_ptr<Pipeline> p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  at::Generator gen = at::detail::createCPUGenerator(4);
  const at::Tensor x = torch::randn({16, 2}, gen, torch::kFloat64) * 3;
  Condition c;
  c.label = torch::full({16}, 5, torch::kLong);
  const double t = 400;
  const X0Prediction guided = GuidedPrediction(p->sampling(), x, t, c);
  ASSERT_EQ(guided.x0.scalar_type(), torch::kFloat64);
  const GaussianCoefficients& g = *p->forward->gaussian();
  const double a = g.Alpha(t), s = g.Sigma(t), v = a * a * 0.09 + s * s;
  const GaussianMixture& m = *p->data->mixture();
  const at::Tensor r = m.Responsibilities(x, torch::scalar_tensor(a, torch::kFloat64),
                                          torch::scalar_tensor(s, torch::kFloat64));  // [B, 8]
  const at::Tensor grad_k = -(x.unsqueeze(1) - a * m.means().unsqueeze(0)) / v;   // [B, 8, 2]
  const at::Tensor r_y = torch::zeros_like(r).index_fill_(1, torch::tensor({5}), 1.0);
  const at::Tensor grad = ((r_y - r).unsqueeze(2) * grad_k).sum(1);
  const at::Tensor want = m.PosteriorMean(x, torch::scalar_tensor(a, torch::kFloat64),
                                          torch::scalar_tensor(s, torch::kFloat64)) +
                          2 * s * s / a * grad;
  EXPECT_LT((guided.x0 - want).abs().max().item<double>(), 1e-10);
}

TEST(ClassifierGuidanceTest, FractionInClassRisesWithScale) {
  std::vector<double> fractions;
  for (double scale : {0.0, 0.2, 1.0, 4.0}) {
    OracleText text;
    text.guidance = "guidance { name: \"classifier\" options { "
                    "[type.googleapis.com/diffuse.ClassifierGuidanceOptions] { scale: " +
                    std::to_string(scale) + " classifier { name: \"mixture_oracle\" } } } }";
    std::string s = text.Text();
    s.replace(s.find(R"(name: "mixture_oracle")"), 22, kUnconditional);
    auto p = BuildOrFail(s);
    ASSERT_NE(p, nullptr);
    fractions.push_back(ClassFidelity(*p, 2000).first);
  }
  SCOPED_TRACE(::testing::PrintToString(fractions));
  EXPECT_NEAR(fractions[0], 1.0 / 8, 0.03);  // unguided: the class's share
  EXPECT_GT(fractions[1], fractions[0] + 0.05);
  EXPECT_GT(fractions[2], 0.9);  // s = 1 with exact gradients is conditional sampling
  EXPECT_GE(fractions[3], fractions[2]);
}

TEST(ClassifierFreeGuidanceTest, IsTheExtrapolationOfConditionalAndNegative) {
  for (int negative : {-1, 5}) {
    OracleText text;
    text.guidance = "guidance { name: \"classifier_free\" options { "
                    "[type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: 2.5 "
                    "negative_label: " + std::to_string(negative) + " } } }";
    auto p = BuildOrFail(text.Text());
    ASSERT_NE(p, nullptr);
    const at::Tensor x = torch::randn({16, 2});
    Condition c, neg;
    c.label = torch::full({16}, 2, torch::kLong);
    neg.label = torch::full({16}, negative, torch::kLong);
    const at::Tensor expected = 3.5 * p->predictor->Predict(x, 400.0, c).x0 -
                                2.5 * p->predictor->Predict(x, 400.0, neg).x0;
    EXPECT_TRUE(torch::allclose(GuidedPrediction(p->sampling(), x, 400.0, c).x0, expected,
                                1e-5, 1e-5));
  }
}

// With exact, well-separated modes p(c | x) is ~1 everywhere near mode c, so guidance
// against the null condition barely moves samples; a negative class does: sampling class 2
// with c_neg = 3 pushes samples away from mode 3, more so as w grows.
TEST(ClassifierFreeGuidanceTest, ANegativeClassPushesSamplesAwayFromIt) {
  std::vector<double> distance;
  for (double w : {0.0, 0.5, 2.0}) {
    OracleText text;
    text.guidance = "guidance { name: \"classifier_free\" options { "
                    "[type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: " +
                    std::to_string(w) + " negative_label: 3 } } }";
    auto p = BuildOrFail(text.Text());
    ASSERT_NE(p, nullptr);
    PhiloxNoise noise(8);
    Condition c;
    c.label = torch::full({1000}, 2, torch::kLong);
    const at::Tensor x = RunReverseProcess(
        p->sampling(), p->prior->Sample(1000, {2}, noise).x_start, p->times, c, noise);
    const at::Tensor mode3 = p->data->mixture()->means()[3].to(torch::kFloat32);
    distance.push_back((x - mode3).norm(2, 1).mean().item<double>());
    // Unguided, samples stay in class 2; strong extrapolation overshoots out of it
    // (measured: 94.6% in class at w = 0.5, 0% at w = 2 with this neighbouring c_neg).
    if (w == 0.0) {
      EXPECT_GT(ClassFidelity(*p, 1000).first, 0.95);
    }
  }
  SCOPED_TRACE(::testing::PrintToString(distance));
  EXPECT_LT(distance[0], distance[1]);
  EXPECT_LT(distance[1], distance[2]);
}

TEST(ClassifierFreeGuidanceTest, RescaleMatchesTheConditionalStd) {
  OracleText text;
  text.guidance = R"(guidance { name: "classifier_free" options {
      [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: 3 rescale: 1 } } })";
  auto p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  const at::Tensor x = torch::randn({8, 2}) * 2;
  Condition c;
  c.label = torch::full({8}, 4, torch::kLong);
  const GaussianCoefficients& g = *p->forward->gaussian();
  auto eps = [&](const at::Tensor& x0) { return (x - g.Alpha(500.0) * x0) / g.Sigma(500.0); };
  const at::Tensor guided = eps(GuidedPrediction(p->sampling(), x, 500.0, c).x0);
  const at::Tensor conditional = eps(p->predictor->Predict(x, 500.0, c).x0);
  EXPECT_TRUE(torch::allclose(guided.std(1), conditional.std(1), 1e-3, 1e-3));
}

// Loss guidance: masked L2 (inpainting) and mean brightness, on the exact oracle.
std::string WriteArray(const std::string& name, std::vector<double> values) {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/" + name + ".npy";
  NpyArray a;
  a.shape = {static_cast<int64_t>(values.size())};
  a.data = std::move(values);
  a.float64 = true;
  EXPECT_THAT(WriteNpy(path, a), IsOk());
  return path;
}

std::string LossGuidanceText(double scale, const std::string& gradient, const std::string& loss) {
  return absl::StrCat("guidance { name: \"loss\" options { "
                      "[type.googleapis.com/diffuse.LossGuidanceOptions] { scale: ", scale,
                      " gradient: ", gradient, " loss { ", loss, " } } } }");
}

std::string MaskedL2(const std::string& reference, const std::string& mask) {
  return absl::StrCat("name: \"masked_l2\" options { [type.googleapis.com/diffuse.MaskedL2LossOptions] "
                      "{ reference: \"", reference, "\" mask: \"", mask, "\" } }");
}

// X0_ONLY: x0_hat - s grad L(x0_hat) = x0_hat - 2 s mask (x0_hat - reference), exactly.
TEST(LossGuidanceTest, X0OnlyStepIsTheLossGradient) {
  const std::string reference = WriteArray("reference", {2.0, -1.0});
  const std::string mask = WriteArray("mask", {1.0, 0.0});
  OracleText text;
  text.predictor = kUnconditional;
  text.guidance = LossGuidanceText(0.25, "X0_ONLY", MaskedL2(reference, mask));
  text.sampler = "num_steps: 50 dtype: FLOAT64";
  std::unique_ptr<Pipeline> p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  const at::Tensor x = torch::randn({16, 2}, torch::kFloat64) * 2;
  const at::Tensor x0 = p->predictor->Predict(x, 300.0, Condition()).x0;
  const at::Tensor guided = GuidedPrediction(p->sampling(), x, 300.0, Condition()).x0;
  const at::Tensor want = x0 - 0.25 * 2 * torch::tensor({1.0, 0.0}, torch::kFloat64) *
                                   (x0 - torch::tensor({2.0, -1.0}, torch::kFloat64));
  EXPECT_LT((guided - want).abs().max().item<double>(), 1e-12);
}

// THROUGH_PREDICTOR: x0_hat - s sigma^2 / alpha grad_{x_t} L(E[x0 | x_t]), the gradient
// checked by central differences of the oracle's posterior mean (float64).
TEST(LossGuidanceTest, ThroughPredictorStepIsTheGradientInXt) {
  OracleText text;
  text.predictor = kUnconditional;
  text.guidance = LossGuidanceText(
      0.5, "THROUGH_PREDICTOR",
      "name: \"mean_brightness\" options { [type.googleapis.com/diffuse.MeanBrightnessLossOptions] "
      "{ target: 1.5 } }");
  text.sampler = "num_steps: 50 dtype: FLOAT64";
  std::unique_ptr<Pipeline> p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  const double t = 500;
  const at::Tensor x = torch::randn({8, 2}, torch::kFloat64) * 2;
  auto loss = [&](const at::Tensor& xt) {
    const at::Tensor x0 = p->predictor->Predict(xt, t, Condition()).x0;
    return (x0.mean(1) - 1.5).square();  // [B]
  };
  at::Tensor grad = torch::zeros_like(x);
  const double h = 1e-5;
  for (int64_t j = 0; j < 2; ++j) {
    at::Tensor e = torch::zeros_like(x);
    e.select(1, j).fill_(h);
    grad.select(1, j).copy_((loss(x + e) - loss(x - e)) / (2 * h));
  }
  const GaussianCoefficients& g = *p->forward->gaussian();
  const at::Tensor want = p->predictor->Predict(x, t, Condition()).x0 -
                          0.5 * g.Sigma(t) * g.Sigma(t) / g.Alpha(t) * grad;
  const at::Tensor guided = GuidedPrediction(p->sampling(), x, t, Condition()).x0;
  EXPECT_LT((guided - want).abs().max().item<double>(), 1e-7);
}

// Inpainting a known first coordinate: samples land on the modes whose first coordinate
// is near the reference's, and the unknown coordinate stays free.
TEST(LossGuidanceTest, MaskedL2PullsTheKnownCoordinate) {
  const std::string reference = WriteArray("reference_x", {2.0, 0.0});
  const std::string mask = WriteArray("mask_x", {1.0, 0.0});
  std::vector<double> distance;
  for (double scale : {0.0, 1.0, 10.0}) {
    OracleText text;
    text.predictor = kUnconditional;
    text.guidance = LossGuidanceText(scale, "THROUGH_PREDICTOR", MaskedL2(reference, mask));
    std::unique_ptr<Pipeline> p = BuildOrFail(text.Text());
    ASSERT_NE(p, nullptr);
    PhiloxNoise noise(5);
    const at::Tensor x = RunReverseProcess(p->sampling(), p->prior->Sample(1000, {2}, noise).x_start,
                                           p->times, Condition(), noise);
    distance.push_back((x.select(1, 0) - 2).abs().mean().item<double>());
  }
  SCOPED_TRACE(::testing::PrintToString(distance));
  EXPECT_GT(distance[0], 1.5);  // the ring's 8 modes average ~2 away in x
  EXPECT_LT(distance[1], distance[0] - 0.3);
  EXPECT_LT(distance[2], 0.5);
}

// Loss "classifier_log_prob" on x0_hat (X0_ONLY): x0_hat + s grad log p(y | x0_hat read at
// t = 3) with the exact mixture classifier, against the same closed form as above.
TEST(LossGuidanceTest, ClassifierLogProbOnX0IsTheClassifierGradient) {
  OracleText text;
  text.predictor = kUnconditional;
  text.guidance = LossGuidanceText(0.5, "X0_ONLY",
                                   "name: \"classifier_log_prob\" options { "
                                   "[type.googleapis.com/diffuse.ClassifierLogProbLossOptions] { "
                                   "classifier { name: \"mixture_oracle\" } time: 3 } }");
  text.sampler = "num_steps: 50 dtype: FLOAT64";
  std::unique_ptr<Pipeline> p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->label_support().num_classes, 8);
  const at::Tensor x = torch::randn({16, 2}, torch::kFloat64) * 2;
  Condition c;
  c.label = torch::full({16}, 5, torch::kLong);
  const at::Tensor x0 = p->predictor->Predict(x, 300.0, c).x0;
  const at::Tensor guided = GuidedPrediction(p->sampling(), x, 300.0, c).x0;
  const GaussianCoefficients& g = *p->forward->gaussian();
  const double a = g.Alpha(3), sd = g.Sigma(3), v = a * a * 0.09 + sd * sd;
  const GaussianMixture& m = *p->data->mixture();
  const at::Tensor r = m.Responsibilities(x0, torch::scalar_tensor(a, torch::kFloat64),
                                          torch::scalar_tensor(sd, torch::kFloat64));
  const at::Tensor grad_k = -(x0.unsqueeze(1) - a * m.means().unsqueeze(0)) / v;
  const at::Tensor r_y = torch::zeros_like(r).index_fill_(1, torch::tensor({5}), 1.0);
  const at::Tensor want = x0 + 0.5 * ((r_y - r).unsqueeze(2) * grad_k).sum(1);
  EXPECT_LT((guided - want).abs().max().item<double>(), 1e-10);
}

TEST(LossGuidanceTest, BadOptionsAreNamed) {
  const std::string reference = WriteArray("reference_3", {2.0, 0.0, 1.0});
  const std::string mask3 = WriteArray("mask_3", {1.0, 0.0, 1.0});
  const std::string mask2 = WriteArray("mask_ok", {1.0, 0.0});
  const std::string mask_bad = WriteArray("mask_bad", {1.5, 0.0});
  const std::string reference2 = WriteArray("reference_2", {2.0, 0.0});
  auto build = [](const std::string& guidance) {
    OracleText text;
    text.predictor = kUnconditional;
    text.guidance = guidance;
    return BuildFromText(text.Text());
  };
  EXPECT_THAT(build(LossGuidanceText(1, "X0_ONLY", MaskedL2(reference, mask3))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("guidance[0] 'loss': options.loss 'masked_l2': "
                                            "option reference: " + reference +
                                            " has shape [3]; the data's samples are [2]")));
  EXPECT_THAT(build(LossGuidanceText(1, "X0_ONLY", MaskedL2(reference2, mask_bad))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("option mask: " + mask_bad +
                                            " holds values outside [0, 1]")));
  EXPECT_THAT(build(LossGuidanceText(1, "X0_ONLY", MaskedL2(reference2 + ".missing", mask2))),
              StatusIs(absl::StatusCode::kNotFound, ::testing::HasSubstr("option reference: ")));
  {
    OracleText flow;
    flow.predictor = kUnconditional;
    flow.forward = R"(name: "flow")";
    flow.prior = R"(name: "forward_terminal")";
    flow.guidance = LossGuidanceText(1, "THROUGH_PREDICTOR", MaskedL2(reference2, mask2));
    EXPECT_THAT(BuildFromText(flow.Text()),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         ::testing::HasSubstr("guidance[0] 'loss': alpha(t_max = 1) is 0")));
  }
  EXPECT_THAT(build("guidance { name: \"loss\" }"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("option loss is required")));
  EXPECT_THAT(build(LossGuidanceText(-1, "X0_ONLY", MaskedL2(reference2, mask2))),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("scale")));
}

}  // namespace
}  // namespace diffuse
