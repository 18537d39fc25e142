// Replaying a stochastic run: supplied per-step noise, recorded trajectories, float64.
#include "assembly/generate.h"

#include <cmath>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/zeros.h>

#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr int kSteps = 20;
constexpr int kNum = 64;

// DDPM's linear schedule written out: alpha_bar_t, t = 0..1000.
std::vector<double> AlphaBars() {
  std::vector<double> ab = {1.0};
  for (int i = 0; i < 1000; ++i) ab.push_back(ab.back() * (1 - (1e-4 + i * (0.02 - 1e-4) / 999)));
  return ab;
}

// E[x0 | x_t] of the eight-Gaussians ring (radius 4, std 0.3, equal weights) in closed form.
at::Tensor RingPosteriorMean(const at::Tensor& x, double a, double s) {
  const double v = a * a * 0.09 + s * s;
  const at::Tensor angle = at::arange(8, at::kDouble) * (2 * M_PI / 8);
  const at::Tensor mu = at::stack({angle.cos(), angle.sin()}, 1) * 4.0;   // [8, 2]
  const at::Tensor d = x.to(at::kDouble).unsqueeze(1) - a * mu.unsqueeze(0);
  const at::Tensor r = (-d.pow(2).sum(2) / (2 * v)).softmax(1);              // [B, 8]
  const at::Tensor mean_k = mu.unsqueeze(0) + (a * 0.09 / v) * d;            // [B, 8, 2]
  return (r.unsqueeze(2) * mean_k).sum(1);
}

std::unique_ptr<Pipeline> Ddpm(const std::string& dtype) {
  OracleText text;
  text.predictor = R"(name: "mixture_oracle" options {
      [type.googleapis.com/diffuse.MixtureOracleOptions] { class_conditional: false } })";
  text.reverse = R"(name: "partial_substitution")";  // eta = 1: DDPM, beta_tilde variance
  text.sampler = absl::StrCat("num_steps: ", kSteps, " grid: LEADING dtype: ", dtype);
  return BuildOrFail(text.Text());
}

Generated RunWithNoise(Pipeline& p, const at::Tensor& noise) {
  GenerateRequest request;
  request.num = kNum;
  request.seed = 3;
  request.step_noise = noise;
  request.record_trajectory = true;
  absl::StatusOr<Generated> g = Generate(p, request);
  EXPECT_THAT(g, IsOk());
  return g.ok() ? *g : Generated();
}

// Every step of DDPM with supplied noise is the closed-form posterior q(x_prev | x_t, x0_hat)
// (Ho et al. 2020, eq. 6-7) plus sqrt(beta_tilde) times that step's row, with x0_hat the
// closed-form E[x0 | x_t]: to 1e-10 in float64.
TEST(ReplayTest, DdpmStepsAreTheClosedFormPosteriorWithTheSuppliedNoise) {
  std::unique_ptr<Pipeline> p = Ddpm("FLOAT64");
  ASSERT_NE(p, nullptr);
  at::Generator gen = at::detail::createCPUGenerator(11);
  const at::Tensor noise = at::randn({kSteps, kNum, 2}, gen, at::kDouble);
  const Generated g = RunWithNoise(*p, noise);
  ASSERT_TRUE(g.trajectory.defined());
  ASSERT_EQ(g.trajectory.sizes(), at::IntArrayRef({kSteps + 1, kNum, 2}));
  ASSERT_EQ(g.x0_trajectory.sizes(), at::IntArrayRef({kSteps, kNum, 2}));
  EXPECT_EQ(g.samples.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(g.trajectory[kSteps], g.samples));
  const std::vector<double> ab = AlphaBars();
  for (int i = 0; i < kSteps; ++i) {
    const int t = static_cast<int>(p->times[i]);
    const int prev = i + 1 < kSteps ? static_cast<int>(p->times[i + 1]) : 0;
    const double a_t = ab[t], a_p = ab[prev];
    const at::Tensor x_t = g.trajectory[i];
    const at::Tensor x0 = RingPosteriorMean(x_t, std::sqrt(a_t), std::sqrt(1 - a_t));
    ASSERT_TRUE(at::allclose(g.x0_trajectory[i], x0, 1e-10, 1e-10)) << "step " << i;
    const double beta = 1 - a_t / a_p;
    const at::Tensor mean = (std::sqrt(a_p) * beta / (1 - a_t)) * x0 +
                            (std::sqrt(1 - beta) * (1 - a_p) / (1 - a_t)) * x_t;
    const double std_dev = std::sqrt((1 - a_p) / (1 - a_t) * beta);
    const at::Tensor want = i + 1 < kSteps ? mean + std_dev * noise[i] : mean;
    ASSERT_TRUE(at::allclose(g.trajectory[i + 1], want, 1e-10, 1e-10)) << "step " << i;
  }
}

// DDIM eta = 1 is the same chain written as diffusers' DDIMScheduler.step writes it:
// sqrt(a_p) x0 + sqrt(1 - a_p - s^2) eps_hat + s z.
TEST(ReplayTest, DdimEtaOneMatchesDiffusersFormWithTheSuppliedNoise) {
  std::unique_ptr<Pipeline> p = Ddpm("FLOAT64");
  ASSERT_NE(p, nullptr);
  at::Generator gen = at::detail::createCPUGenerator(12);
  // One row fewer: the step to t = 0 draws no noise.
  const at::Tensor noise = at::randn({kSteps - 1, kNum, 2}, gen, at::kDouble);
  const Generated g = RunWithNoise(*p, noise);
  const std::vector<double> ab = AlphaBars();
  for (int i = 0; i < kSteps; ++i) {
    const double a_t = ab[static_cast<int>(p->times[i])];
    const double a_p = ab[i + 1 < kSteps ? static_cast<int>(p->times[i + 1]) : 0];
    const at::Tensor x_t = g.trajectory[i];
    const at::Tensor x0 = g.x0_trajectory[i];
    const at::Tensor eps = (x_t - std::sqrt(a_t) * x0) / std::sqrt(1 - a_t);
    const double s = std::sqrt((1 - a_p) / (1 - a_t) * (1 - a_t / a_p));
    at::Tensor want = std::sqrt(a_p) * x0 + std::sqrt(1 - a_p - s * s) * eps;
    if (i + 1 < kSteps) want = want + s * noise[i];
    ASSERT_TRUE(at::allclose(g.trajectory[i + 1], want, 1e-10, 1e-10)) << "step " << i;
  }
}

// float32 runs the same noise to float32 accuracy.
TEST(ReplayTest, Float32AgreesWithFloat64) {
  std::unique_ptr<Pipeline> p64 = Ddpm("FLOAT64");
  std::unique_ptr<Pipeline> p32 = Ddpm("FLOAT32");
  ASSERT_NE(p64, nullptr);
  ASSERT_NE(p32, nullptr);
  at::Generator gen = at::detail::createCPUGenerator(13);
  const at::Tensor noise = at::randn({kSteps, kNum, 2}, gen, at::kDouble);
  const Generated a = RunWithNoise(*p64, noise);
  const Generated b = RunWithNoise(*p32, noise.to(at::kFloat));
  EXPECT_EQ(b.samples.scalar_type(), at::kFloat);
  const double err = (a.samples - b.samples.to(at::kDouble)).abs().max().item<double>();
  EXPECT_LT(err, 1e-4);
  EXPECT_GT(err, 0);  // they really ran in different precisions
  // Without supplied noise both draw the same per-sample Philox normals.
  GenerateRequest request;
  request.num = kNum;
  request.seed = 5;
  const at::Tensor c = Generate(*p64, request)->samples;
  const at::Tensor d = Generate(*p32, request)->samples;
  EXPECT_LT((c - d.to(at::kDouble)).abs().max().item<double>(), 1e-4);
}

TEST(ReplayTest, NoiseOfTheWrongShapeOrTooFewRowsNamesTheSource) {
  std::unique_ptr<Pipeline> p = Ddpm("FLOAT32");
  ASSERT_NE(p, nullptr);
  GenerateRequest request;
  request.num = kNum;
  request.step_noise_source = "z.npy";
  request.step_noise = at::zeros({kSteps - 2, kNum, 2});
  EXPECT_THAT(Generate(*p, request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("z.npy: noise has shape")));
  request.step_noise = at::zeros({kSteps, kNum, 3});
  EXPECT_THAT(Generate(*p, request), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("want [20, 64, 2]")));
  // Euler-Maruyama draws on every step but the last; predictor-corrector draws twice.
  OracleText text;
  text.reverse = R"(name: "predictor_corrector")";
  text.sampler = "num_steps: 5";
  std::unique_ptr<Pipeline> pc = BuildOrFail(text.Text());
  ASSERT_NE(pc, nullptr);
  request.step_noise = at::zeros({5, kNum, 2});
  EXPECT_THAT(Generate(*pc, request), StatusIs(absl::StatusCode::kInternal,
                                               HasSubstr("z.npy: step 1 draws noise twice")));
}

// diffusers' guidance_scale in [0, 1) is w in [-1, 0): w = -1 gives the negative's x0.
TEST(ReplayTest, NegativeGuidanceScaleInterpolatesTowardsTheNegative) {
  OracleText text;
  text.guidance = R"(guidance { name: "classifier_free" options {
      [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: -1 negative_label: 3 } } })";
  text.sampler = "num_steps: 10 labels: [0]";
  std::unique_ptr<Pipeline> guided = BuildOrFail(text.Text());
  text.guidance.clear();
  text.sampler = "num_steps: 10 labels: [3]";
  std::unique_ptr<Pipeline> negative = BuildOrFail(text.Text());
  ASSERT_NE(guided, nullptr);
  ASSERT_NE(negative, nullptr);
  GenerateRequest request;
  request.num = 16;
  const at::Tensor a = Generate(*guided, request)->samples;
  const at::Tensor b = Generate(*negative, request)->samples;
  EXPECT_TRUE(at::allclose(a, b, 1e-5, 1e-5));
  text.guidance = R"(guidance { name: "classifier_free" options {
      [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: -1.5 } } })";
  EXPECT_THAT(BuildFromText(text.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("scale")));
}

}  // namespace
}  // namespace diffuse
