// DiffuseVAE's shifted Gaussian, forward "shifted" around gaussian_vp:
//  - F_t is x_t = sqrt(ab) x0 + (1 - sqrt(ab)) x_hat + sqrt(1 - ab) eps (Pandey et al. 2022,
//    eq. 9), round-trips in eps and ends at N(x_hat, I);
//  - every reverse step the builder accepts is marginally consistent around x_hat;
//  - the exact oracle with a Gaussian-fit x_hat reproduces the mixture (x0 independent of
//    x_hat), with DDIM and with the Heun ODE solver.
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/linspace.h>
#include <ATen/ops/matmul.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>

#include "absl/strings/str_cat.h"
#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "eval/mixture_metrics.h"
#include "forward/gaussian.h"
#include "gtest/gtest.h"
#include "models/trainable_model.h"
#include "random/noise_source.h"
#include "reverse/sampler.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr char kShifted[] = R"(name: "shifted" options {
    [type.googleapis.com/diffuse.ShiftedOptions] { inner { name: "gaussian_vp" } } })";
constexpr char kPrior[] = R"(name: "diffused_estimate" options {
    [type.googleapis.com/diffuse.DiffusedEstimatePriorOptions] {
      estimate: GAUSSIAN_FIT estimate_as_condition: true } })";

std::string Text(const std::string& reverse, const std::string& sampler = "num_steps: 50") {
  return OracleText{.predictor = R"(name: "mixture_oracle" options {
                        [type.googleapis.com/diffuse.MixtureOracleOptions] { class_conditional: false } })",
                    .forward = kShifted,
                    .prior = kPrior,
                    .reverse = reverse,
                    .sampler = sampler}
      .Text();
}

// x_t of the sampler's coordinates: x_hat + F_t(x0 - x_hat, eps).
at::Tensor Diffuse(const ForwardProcess& f, const at::Tensor& x0, const at::Tensor& x_hat,
                   double t, const at::Tensor& eps) {
  Condition c;
  c.image = x_hat;
  const at::Tensor offset = f.Offset(c);
  return offset + f.Apply(x0 - offset, t, eps);
}

TEST(ShiftedTest, IsDiffuseVaesFormulaAndRoundTrips) {
  auto p = BuildOrFail(Text(R"(name: "substitution")"));
  ASSERT_NE(p, nullptr);
  const ForwardProcess& f = *p->forward;
  const GaussianCoefficients& g = *f.gaussian();
  const at::Tensor x0 = at::randn({6, 2}, at::kDouble);
  const at::Tensor x_hat = at::randn({6, 2}, at::kDouble);
  const at::Tensor eps = at::randn({6, 2}, at::kDouble);
  for (double t : {1.0, 300.0, 999.0}) {
    const double ab = std::pow(g.Alpha(t), 2);
    const at::Tensor expected =
        std::sqrt(ab) * x0 + (1 - std::sqrt(ab)) * x_hat + std::sqrt(1 - ab) * eps;
    const at::Tensor x_t = Diffuse(f, x0, x_hat, t, eps);
    EXPECT_TRUE(at::allclose(x_t, expected, 0, 1e-12));
    EXPECT_TRUE(at::allclose(f.InvertNoise(x0 - x_hat, x_t - x_hat, t), eps, 0, 1e-10));
  }
  // The end: N(x_hat, I) up to alpha(T) (x0) terms.
  const double alpha_T = g.Alpha(1000.0);
  EXPECT_LT(alpha_T, 0.007);
}

struct Case {
  const char* reverse;
  double t, s;
};
class ShiftedConsistencyTest : public ::testing::TestWithParam<Case> {};

// x0 ~ data, x_hat ~ N(0, 4 I), x_t = shifted F_t: the step to s must give
// z = (x_s - alpha_s x0 - (1 - alpha_s) x_hat) / sigma_s ~ N(0, I), independent of x0, x_hat.
TEST_P(ShiftedConsistencyTest, ResidualIsStandardNormal) {
  const Case c = GetParam();
  auto p = BuildOrFail(Text(c.reverse));
  ASSERT_NE(p, nullptr);
  const ForwardProcess& f = *p->forward;
  const int64_t n = 200000;
  at::Generator gen = at::detail::createCPUGenerator(2);
  const at::Tensor x0 = p->data->Sample(n, gen).x.to(at::kDouble);
  const at::Tensor x_hat = 2 * at::randn({n, 2}, gen, at::kDouble);
  PhiloxNoise noise(4);
  const at::Tensor x_t = Diffuse(f, x0, x_hat, c.t, f.SampleNoise({n, 2}, noise).to(at::kDouble));
  // One reverse step, through the sampler so the offset is handled as in real runs; the
  // "predictor" is replaced by the true x0 with a hook.
  Condition condition;
  condition.image = x_hat;
  SamplingComponents components = p->sampling();
  const at::Tensor x_s = RunReverseProcess(
      components, x_t, {c.t}, condition, noise, [&](StepView& v) { v.x0_hat.x0 = x0; });
  // RunReverseProcess steps to 0 on a one-time grid; compare with s = 0 then.
  const GaussianCoefficients& g = *f.gaussian();
  EXPECT_TRUE(at::allclose(x_s, x0, 0, 1e-9));  // the step to t = 0 lands on x0_hat
  // And a step to an intermediate time, called directly on residuals.
  ReverseStep step{&f, c.t, c.s, 0, 2, &noise, nullptr};
  p->reverse->Reset();
  const at::Tensor u_s = p->reverse->Step(step, x_t - x_hat, {x0 - x_hat, at::Tensor()});
  const at::Tensor z = (u_s + x_hat - g.Alpha(c.s) * x0 - (1 - g.Alpha(c.s)) * x_hat) / g.Sigma(c.s);
  const at::Tensor mean = z.mean(0);
  const at::Tensor cov = at::matmul((z - mean).t(), z - mean) / n;
  EXPECT_TRUE(at::allclose(mean, at::zeros({2}, at::kDouble), 0, 0.012)) << mean;
  EXPECT_TRUE(at::allclose(cov, at::eye(2, at::kDouble), 0, 0.016)) << cov;
  const at::Tensor cross = at::matmul(at::cat({x0, x_hat}, 1).t(), z - mean) / n;
  EXPECT_LT(cross.abs().max().item<double>(), 0.05) << cross;
}

INSTANTIATE_TEST_SUITE_P(EveryAcceptedPair, ShiftedConsistencyTest,
                         ::testing::Values(Case{R"(name: "resample")", 600, 400},
                                           Case{R"(name: "substitution")", 600, 300},
                                           Case{R"(name: "partial_substitution")", 800, 100},
                                           Case{R"(name: "euler")", 500, 250}));

TEST(ShiftedSamplingTest, OracleReproducesTheMixture) {
  // DDIM needs more steps than Heun for the same quality (docs/components.md).
  for (auto [reverse, sampler] : std::vector<std::pair<const char*, const char*>>{
           {R"(name: "substitution")", "num_steps: 100"},
           {R"(name: "heun")", "num_steps: 40 grid: KARRAS rho: 7"}}) {
    auto p = BuildOrFail(Text(reverse, sampler));
    ASSERT_NE(p, nullptr);
    const int64_t n = 4000;
    at::Generator gen = at::detail::createCPUGenerator(1);
    const at::Tensor reference = p->data->mixture()->Sample(n, gen);
    absl::StatusOr<Generated> g = Generate(*p, {.num = n, .seed = 3});
    ASSERT_THAT(g.status(), IsOk());
    const MixtureQuality q = EvaluateAgainstMixture(g->samples, *p->data->mixture(), reference);
    SCOPED_TRACE(std::string(reverse) + ": " + q.ToString());
    EXPECT_LT(q.max_mode_error(), 0.025);
    EXPECT_LT(q.off_mode_fraction, 0.03);
    EXPECT_NEAR(q.mean_log_likelihood, -2.49, 0.1);
  }
}

// A network under the shifted forward reads its output on the residual: for any output of
// an untrained MLP, the x0 that Predict returns and the target that Loss trains are tied by
// X0LossScale, Loss = ||x0_hat - x0||^2 / dim * X0LossScale. Reading eps, v or F on x_t
// instead of x_t - x_hat breaks the tie.
TEST(ShiftedNetworkTest, PredictionAndLossAgreeOnTheResidual) {
  for (const char* kind : {"EPS", "V", "EDM"}) {
    SCOPED_TRACE(kind);
    auto p = BuildOrFail(OracleText{.predictor = absl::StrCat(
                                        R"(name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
                                          parameterization: )",
                                        kind, " } }"),
                                    .forward = kShifted,
                                    .prior = kPrior}
                             .Text());
    ASSERT_NE(p, nullptr);
    TrainableModel* model = p->predictor->trainable();
    ASSERT_NE(model, nullptr);
    const int64_t n = 64;
    TrainingExample e;
    e.x0 = at::randn({n, 2});
    e.eps = at::randn({n, 2});
    e.condition.image = 3 * at::randn({n, 2}) + 2;
    e.t = Time(at::linspace(20, 980, n, at::kDouble));
    const GaussianCoefficients& g = *p->forward->gaussian();
    const at::Tensor alpha = AlphaTensor(g, e.t).to(at::kFloat).view({n, 1});
    const at::Tensor sigma = SigmaTensor(g, e.t).to(at::kFloat).view({n, 1});
    e.x_t = e.condition.image + alpha * (e.x0 - e.condition.image) + sigma * e.eps;
    at::NoGradGuard no_grad;
    const at::Tensor loss = model->Loss(e).to(at::kDouble);
    const at::Tensor x0_hat = p->predictor->Predict(e.x_t, e.t, e.condition).x0;
    const at::Tensor x0_error = (x0_hat - e.x0).square().mean(1).to(at::kDouble);
    EXPECT_TRUE(at::allclose(x0_error * model->X0LossScale(e.t, n), loss, 1e-3, 1e-6))
        << (x0_error * model->X0LossScale(e.t, n) / loss).slice(0, 0, 8);
  }
}

TEST(ShiftedBuilderTest, NeedsAnXHatAndRealValues) {
  // Only a prior that supplies x_hat can start a shifted process.
  for (const char* prior : {R"(name: "standard_normal")", R"(name: "forward_terminal")"}) {
    EXPECT_THAT(BuildFromText(OracleText{.forward = kShifted, .prior = prior}.Text()),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("estimate_as_condition")));
  }
  EXPECT_THAT(BuildFromText(OracleText{.forward = kShifted,
                                       .prior = R"(name: "diffused_estimate")"}
                                .Text()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("prior 'diffused_estimate': the forward process is offset")));
  EXPECT_THAT(BuildFromText(Text(R"(name: "substitution")") + R"(
      guidance { name: "classifier" options { [type.googleapis.com/diffuse.ClassifierGuidanceOptions] {
        classifier { name: "mixture_oracle" } } } })"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("offset")));
}

}  // namespace
}  // namespace diffuse
