// Consistency distillation / training and progressive distillation: the boundary condition,
// the discretization and curriculum against CM's formulas, the distillation target at the
// exact oracle against the ODE solution, one-call sampling, exact resume, and that a short
// run on the ring lands its 1- and 2-call samples on the modes.
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Context.h>
#include <ATen/core/grad_mode.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "assembly/train.h"
#include "assembly/trained_loader.h"
#include "eval/mixture_metrics.h"
#include "forward/gaussian.h"
#include "models/trainable_model.h"
#include "models/x0_predictor.h"
#include "pipeline/registry.h"
#include "pipeline/trained_description.h"
#include "random/noise_source.h"
#include "reverse/reverse_conditional.h"
#include "training/consistency.h"
#include "training/distillation.h"
#include "util/npy.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
}

std::string TempDir(const std::string& name) {
  const std::string dir = TempPath(name);
  std::remove(CheckpointPath(dir).c_str());
  return dir;
}

// A .npy of 64 smooth 1 x 8 x 8 images (a bump each), for the blur process.
std::string BumpImages() {
  const std::string path = TempPath("bumps.npy");
  NpyArray a;
  a.shape = {64, 1, 8, 8};
  for (int n = 0; n < 64; ++n) {
    const double cx = n % 8, cy = n / 8;
    for (int y = 0; y < 8; ++y) {
      for (int x = 0; x < 8; ++x) {
        a.data.push_back(2 * std::exp(-((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 6) - 1);
      }
    }
  }
  EXPECT_THAT(WriteNpy(path, a), IsOk());
  return path;
}

std::string Mlp(const std::string& parameterization, const std::string& extra = "") {
  return absl::StrCat(R"(name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
      hidden: 64 blocks: 2 parameterization: )",
                      parameterization, " ", extra, " } }");
}

// A ring description with `forward`, `predictor`, two-call consistency sampling and, with
// `objective` (text inside `training.objective { ... }`), a training section.
std::string RingText(const std::string& forward, const std::string& predictor,
                     const std::string& objective = "", int steps = 40, int log_every = 40,
                     const std::string& timesteps = "[1000, 500]") {
  std::string text = absl::StrCat(R"(
    data { name: "eight_gaussians" }
    forward { )", forward, R"( }
    predictor { )", predictor, R"( }
    prior { name: "standard_normal" }
    reverse { name: "partial_substitution" options {
      [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 1 share: CONSTANT } } }
    sampler { timesteps: )", timesteps, " }");
  if (objective.empty()) return text;
  return absl::StrCat(text, R"(
    training { batch_size: 128 seed: 4 learning_rate: 0.003 checkpoint_every: 1000 steps: )",
                      steps, " log_every: ", log_every, " objective { ", objective, " } }");
}

const char kVp[] = R"(name: "gaussian_vp")";

// Deterministic blur of bump images with an EDM-preconditioned MLP, two-call consistency
// sampling, and `training` (a whole section, may be empty).
std::string BlurText(const std::string& training) {
  return absl::StrCat(
      R"(data { name: "tensor_file" options { [type.googleapis.com/diffuse.TensorFileOptions] {
        path: ")", BumpImages(), R"(" } } }
      forward { name: "blur" options { [type.googleapis.com/diffuse.BlurOptions] {
        num_steps: 20 blur_sigma_max: 2 terminal_fit_samples: 64 } } }
      predictor { )", Mlp("EDM"), R"( }
      prior { name: "forward_terminal" }
      reverse { name: "partial_substitution" options {
        [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 1 share: CONSTANT } } }
      sampler { timesteps: [20, 10] })", training);
}

TEST(ConsistencyTest, TheParameterizationsMeetTheBoundaryConditionExactlyAtTimeZero) {
  const std::string blur = BlurText("");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"VP eps", RingText(kVp, Mlp("EPS"))},
      {"VP v", RingText(kVp, Mlp("V"))},
      {"VE EDM", absl::StrReplaceAll(RingText(R"(name: "gaussian_ve")", Mlp("EDM"), "", 0, 0,
                                              "[1, 0.5]"),
                                     {{"standard_normal", "forward_terminal"}})},
      {"flow v", RingText(R"(name: "flow")", Mlp("V"), "", 0, 0, "[1, 0.5]")},
      {"blur EDM", blur},
  };
  for (const auto& [name, description] : cases) {
    SCOPED_TRACE(name);
    auto p = BuildOrFail(description);
    ASSERT_NE(p, nullptr);
    std::vector<int64_t> shape = {5};
    for (int64_t d : p->data->sample_shape()) shape.push_back(d);
    const at::Tensor x = torch::randn(shape) * 3;
    at::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(p->predictor->Predict(x, Time(0.0), Condition()).x0, x));
    const at::Tensor zeros = torch::zeros({5}, torch::kFloat64);
    EXPECT_TRUE(torch::equal(p->predictor->Predict(x, Time(zeros), Condition()).x0, x));
  }
}

TEST(ConsistencyTest, AnX0PredictorIsRefusedAsAConsistencyFunction) {
  auto p = BuildOrFail(RingText(kVp, Mlp("X0"), R"(name: "consistency_training")"));
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(BuildObjective(*p),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("is not a consistency function")));
  auto blur_karras = BuildOrFail(RingText(R"(name: "flow")", Mlp("V"), R"(
      name: "consistency_training" options { [type.googleapis.com/diffuse.ConsistencyTrainingOptions] {
        consistency { spacing: KARRAS } } })", 40, 40, "[1, 0.5]"));
  ASSERT_NE(blur_karras, nullptr);
  // Flow's sigma / alpha is infinite at t = 1: Karras cannot place its times.
  EXPECT_THAT(BuildObjective(*blur_karras),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("consistency.num_scales")));
}

TEST(ConsistencyTest, TimesFollowKarrasAndUniformSpacing) {
  auto p = BuildOrFail(RingText(kVp, Mlp("EPS")));
  ASSERT_NE(p, nullptr);
  ConsistencyOptions o;  // KARRAS, rho 7
  absl::StatusOr<std::vector<double>> t = ConsistencyTimes(o, 18, *p->forward);
  ASSERT_THAT(t, IsOk());
  ASSERT_EQ(t->size(), 18u);
  EXPECT_EQ((*t)[0], 0.0);
  EXPECT_NEAR(t->back(), 1000.0, 1e-6);
  const GaussianCoefficients& g = *p->forward->gaussian();
  auto scaled = [&](double time) { return g.Sigma(time) / g.Alpha(time); };
  const double lo = std::pow(scaled(1.0), 1 / 7.0), hi = std::pow(scaled(1000.0), 1 / 7.0);
  for (int i = 1; i < 18; ++i) {
    EXPECT_GT((*t)[i], (*t)[i - 1]);
    const double expected = std::pow(lo + (i - 1) / 16.0 * (hi - lo), 7);  // CM eq. 25
    EXPECT_NEAR(scaled((*t)[i]) / expected, 1.0, 1e-6) << i;
  }
  o.set_spacing(ConsistencyOptions::UNIFORM);
  t = ConsistencyTimes(o, 5, *p->forward);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(*t, (std::vector<double>{0, 1, 334, 667, 1000}));  // round(linspace(0, 999, 4)) + 1
  EXPECT_THAT(ConsistencyTimes(o, 1002, *p->forward),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_scales = 1002")));
}

TEST(ConsistencyTest, CurriculumAndDistancesMatchThePapers) {
  ConsistencyTrainingOptions o;  // CM Table 3, CIFAR-10 CT: s0 = 2, s1 = 150, mu0 = 0.9
  o.mutable_consistency()->set_num_scales(2);
  o.set_final_num_scales(150);
  o.set_initial_target_ema(0.9);
  EXPECT_EQ(ConsistencyScheduleAt(o, 0, 1000).num_scales, 2);
  EXPECT_NEAR(ConsistencyScheduleAt(o, 0, 1000).target_ema, 0.9, 1e-15);
  // k / K = 1/2: ceil(sqrt((151^2 - 4) / 2 + 4) - 1) + 1 = ceil(105.78) + 1 = 107.
  const ConsistencySchedule half = ConsistencyScheduleAt(o, 500, 1000);
  EXPECT_EQ(half.num_scales, 107);
  EXPECT_NEAR(half.target_ema, std::pow(0.9, 2.0 / 107), 1e-15);
  EXPECT_EQ(ConsistencyScheduleAt(o, 1000, 1000).num_scales, 151);
  o.set_final_num_scales(0);
  o.mutable_consistency()->set_target_ema(0.95);
  EXPECT_EQ(ConsistencyScheduleAt(o, 500, 1000).num_scales, 2);
  EXPECT_EQ(ConsistencyScheduleAt(o, 500, 1000).target_ema, 0.95);

  const at::Tensor a = torch::zeros({2, 4}, torch::kFloat64);
  const at::Tensor b = torch::tensor({1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 3.0}, torch::kFloat64).view({2, 4});
  ConsistencyOptions d;
  EXPECT_TRUE(torch::allclose(ConsistencyDistance(d, a, b), torch::tensor({1.0, 2.25}, torch::kFloat64)));
  d.set_distance(ConsistencyOptions::L1);
  EXPECT_TRUE(torch::allclose(ConsistencyDistance(d, a, b), torch::tensor({1.0, 0.75}, torch::kFloat64)));
  d.set_distance(ConsistencyOptions::PSEUDO_HUBER);  // c = 0.00054 sqrt(4)
  const double c = 0.00108;
  EXPECT_TRUE(torch::allclose(
      ConsistencyDistance(d, a, b),
      torch::tensor({std::sqrt(4 + c * c) - c, std::sqrt(9 + c * c) - c}, torch::kFloat64)));
}

// x at times[k] moved to times[k - 1] by `steps` Heun steps uniform in t with the oracle.
at::Tensor HeunSolution(ReverseConditional& heun, X0Predictor& oracle, const ForwardProcess& f,
                        at::Tensor x, double from, double to, int steps) {
  for (int s = 0; s < steps; ++s) {
    const std::vector<double> pair = {from + (to - from) * (s + 1) / steps,
                                      from + (to - from) * s / steps};
    x = *SolverStepPerExample(heun, oracle, f, x, torch::ones({x.size(0)}, torch::kLong), pair,
                              torch::kFloat64);
  }
  return x;
}

TEST(ConsistencyTest, TheDistillationTargetOfTheExactOracleIsTheOdeSolution) {
  OracleText text;
  text.sampler = "num_steps: 10 dtype: FLOAT64";
  auto p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  BuildContext context;
  context.config = &p->config;
  context.forward = p->forward.get();
  auto heun = CreateOrFail<ReverseConditional>(R"(name: "heun")", context);
  auto euler = CreateOrFail<ReverseConditional>(R"(name: "euler")", context);
  ConsistencyOptions o;
  at::Generator gen = at::detail::createCPUGenerator(5);
  // Interval k of N times: one Heun step (the target) against 512 of them (the ODE
  // solution); the one-step error falls at Heun's local order 3 as the intervals halve,
  // Euler's at 2.
  double previous_heun = 0, previous_euler = 0;
  for (int n : {41, 81, 161}) {
    absl::StatusOr<std::vector<double>> times = ConsistencyTimes(o, n, *p->forward);
    ASSERT_THAT(times, IsOk());
    double heun_error = 0, euler_error = 0;
    // The same noise level (sigma_tilde about 1, where the ring's x0_hat turns) at each N.
    const int k = (n - 1) * 3 / 5;
    const at::Tensor x0 = p->data->Sample(256, gen).x.to(torch::kFloat64);
    const at::Tensor x = p->forward->Apply(x0, Time((*times)[k]), torch::randn_like(x0));
    const at::Tensor from = torch::full({256}, k, torch::kLong);
    const at::Tensor exact = HeunSolution(*heun, *p->predictor, *p->forward, x, (*times)[k],
                                          (*times)[k - 1], 512);
    heun_error = (*SolverStepPerExample(*heun, *p->predictor, *p->forward, x, from, *times,
                                        torch::kFloat64) -
                  exact).abs().max().item<double>();
    euler_error = (*SolverStepPerExample(*euler, *p->predictor, *p->forward, x, from, *times,
                                         torch::kFloat64) -
                   exact).abs().max().item<double>();
    SCOPED_TRACE(absl::StrCat("N = ", n, ": Heun ", heun_error, ", Euler ", euler_error));
    EXPECT_LT(heun_error, euler_error / 4);
    if (previous_heun > 0) {
      EXPECT_NEAR(std::log2(previous_heun / heun_error), 3, 0.6);
      EXPECT_NEAR(std::log2(previous_euler / euler_error), 2, 0.4);
    }
    previous_heun = heun_error;
    previous_euler = euler_error;
  }
  EXPECT_LT(previous_heun, 1e-5);
}

TEST(ConsistencyTest, OneCallSamplingIsOneSubstitutionStep) {
  OracleText recorrupt, substitute;
  recorrupt.reverse = R"(name: "partial_substitution" options {
      [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 1 share: CONSTANT } })";
  recorrupt.sampler = substitute.sampler = "timesteps: [1000] dtype: FLOAT64";
  auto a = BuildOrFail(recorrupt.Text()), b = BuildOrFail(substitute.Text());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const at::Tensor x_T = torch::randn({64, 2}, torch::kFloat64);
  absl::StatusOr<Generated> one = Generate(*a, {64, 3, x_T});
  absl::StatusOr<Generated> step = Generate(*b, {64, 3, x_T});
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT(step, IsOk());
  EXPECT_TRUE(torch::equal(one->samples, step->samples));
  at::NoGradGuard no_grad;
  Condition labels;  // the oracle reads the sampler's round-robin class labels
  labels.label = one->labels;
  const at::Tensor direct = a->predictor->Predict(x_T, Time(1000.0), labels).x0;
  EXPECT_LT((one->samples - direct).abs().max().item<double>(), 1e-12);
}

TEST(ConsistencyTest, FreshReCorruptionKeepsTheMarginalOfTheTargetTime) {
  // x_s = F_s(x0_hat, z): given x0_hat, x_s - alpha_s x0_hat has std sigma_s.
  OracleText text;
  text.reverse = R"(name: "partial_substitution" options {
      [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 1 share: CONSTANT } })";
  text.sampler = "timesteps: [1000, 300] dtype: FLOAT64";
  auto p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  GenerateRequest request{4000, 9, torch::randn({4000, 2}, torch::kFloat64)};
  request.record_trajectory = true;
  absl::StatusOr<Generated> g = Generate(*p, request);
  ASSERT_THAT(g, IsOk());
  const GaussianCoefficients& c = *p->forward->gaussian();
  // trajectory[1] is x at t = 300, x0_trajectory[0] the estimate at t = 1000.
  const at::Tensor residual = g->trajectory[1] - c.Alpha(300) * g->x0_trajectory[0];
  EXPECT_NEAR(residual.std().item<double>(), c.Sigma(300), 0.02);
  EXPECT_NEAR(residual.mean().item<double>(), 0, 0.03);
}

// Stops the run at its first progress line (SIGTERM), as trainer_test does.
class RaiseOnFirstWrite : public std::streambuf {
 protected:
  int overflow(int c) override {
    if (!raised_) {
      raised_ = true;
      std::raise(SIGTERM);
    }
    return c;
  }

 private:
  bool raised_ = false;
};

// Trains `text` straight, and again stopped after its first logged step and resumed: the
// weights must be equal.
void ExpectExactResume(const std::string& text, const std::string& tag) {
  auto straight = BuildOrFail(text);
  ASSERT_NE(straight, nullptr);
  ASSERT_THAT(Train(*straight, TempDir("straight_" + tag), nullptr), IsOk());
  const std::string dir = TempDir("resumed_" + tag);
  auto first = BuildOrFail(text);
  RaiseOnFirstWrite raise;
  std::ostream progress(&raise);
  EXPECT_THAT(Train(*first, dir, &progress), StatusIs(absl::StatusCode::kCancelled, HasSubstr("stopped")));
  auto second = BuildOrFail(text);
  absl::StatusOr<TrainingSummary> s = Train(*second, dir, nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_GT(s->first_step, 0);
  const auto a = straight->predictor->trainable()->module().parameters();
  const auto b = second->predictor->trainable()->module().parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << tag << " " << i;
}

std::string OracleTeacherFile() {
  const std::string path = TempPath("oracle_teacher.pbtxt");
  std::ofstream(path) << OracleText().Text();
  return path;
}

TEST(ConsistencyTest, DistillationAndTrainingResumeExactly) {
  ExpectExactResume(
      RingText(kVp, Mlp("EDM", "sigma_data: 4"),
               absl::StrCat(R"(name: "consistency_distillation" options {
                 [type.googleapis.com/diffuse.ConsistencyDistillationOptions] {
                   teacher_pipeline: ")", OracleTeacherFile(), R"("
                   consistency { num_scales: 12 target_ema: 0.9 } } })"),
               40, 15),
      "cd");
  ExpectExactResume(RingText(kVp, Mlp("V"), R"(name: "consistency_training" options {
                 [type.googleapis.com/diffuse.ConsistencyTrainingOptions] {
                   consistency { num_scales: 2 distance: PSEUDO_HUBER }
                   final_num_scales: 20 } })",
                             40, 15),
                    "ct");
  // VE (Karras times) distilled from its oracle with Euler as the one-step estimator, and
  // flow (uniform times; sigma / alpha is infinite at t = 1) trained without a teacher.
  const std::string ve_teacher = TempPath("ve_oracle.pbtxt");
  OracleText ve;
  ve.forward = R"(name: "gaussian_ve")";
  ve.prior = R"(name: "forward_terminal")";
  std::ofstream(ve_teacher) << ve.Text();
  ExpectExactResume(absl::StrReplaceAll(
                        RingText(R"(name: "gaussian_ve")", Mlp("EDM", "sigma_data: 4"),
                                 absl::StrCat(R"(name: "consistency_distillation" options {
                 [type.googleapis.com/diffuse.ConsistencyDistillationOptions] {
                   teacher_pipeline: ")", ve_teacher, R"(" solver { name: "euler" }
                   consistency { num_scales: 10 target_ema: 0.9 } } })"),
                                 30, 10, "[1, 0.5]"),
                        {{"standard_normal", "forward_terminal"}}),
                    "cd_ve");
  ExpectExactResume(RingText(R"(name: "flow")", Mlp("V"), R"(name: "consistency_training" options {
                 [type.googleapis.com/diffuse.ConsistencyTrainingOptions] {
                   consistency { num_scales: 8 spacing: UNIFORM target_ema: 0.9 } } })",
                             30, 10, "[1, 0.5]"),
                    "ct_flow");
  ExpectExactResume(BlurText(R"(
      training { batch_size: 32 steps: 30 log_every: 10 checkpoint_every: 1000 objective {
        name: "consistency_training" options {
        [type.googleapis.com/diffuse.ConsistencyTrainingOptions] {
          consistency { num_scales: 6 spacing: UNIFORM target_ema: 0.5 } } } } })"),
                    "ct_blur");
}

TEST(ConsistencyTest, ProgressiveDistillationResumesExactlyAcrossARound) {
  // The teacher: a short v-prediction run.
  const std::string teacher_dir = TempDir("pd_teacher");
  auto teacher = BuildOrFail(RingText(kVp, Mlp("V"), R"(name: "diffusion")", 60, 60));
  ASSERT_NE(teacher, nullptr);
  ASSERT_THAT(Train(*teacher, teacher_dir, nullptr), IsOk());
  // Rounds of 20 steps (8 -> 4 -> 2 steps); the stop after step 25 is in the second round.
  ExpectExactResume(RingText(kVp, Mlp("V"),
                             absl::StrCat(R"(name: "progressive_distillation" options {
                 [type.googleapis.com/diffuse.ProgressiveDistillationOptions] {
                   teacher: ")", CheckpointPath(teacher_dir), R"(" teacher_steps: 8 final_steps: 2 } })"),
                             40, 25),
                    "pd");
  auto other = BuildOrFail(RingText(kVp, Mlp("EPS"),
                                    absl::StrCat(R"(name: "progressive_distillation" options {
                 [type.googleapis.com/diffuse.ProgressiveDistillationOptions] {
                   teacher: ")", CheckpointPath(teacher_dir), R"(" teacher_steps: 8 final_steps: 3 } })")));
  ASSERT_NE(other, nullptr);
  EXPECT_THAT(BuildObjective(*other), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("must be a power of two")));
}

TEST(ConsistencyTest, TheTeacherMustModelTheSameForwardProcess) {
  const std::string path = TempPath("ve_teacher.pbtxt");
  OracleText ve;
  ve.forward = R"(name: "gaussian_ve")";
  ve.prior = R"(name: "forward_terminal")";
  std::ofstream(path) << ve.Text();
  auto p = BuildOrFail(RingText(kVp, Mlp("EDM"), absl::StrCat(R"(name: "consistency_distillation" options {
      [type.googleapis.com/diffuse.ConsistencyDistillationOptions] { teacher_pipeline: ")",
                                                                  path, R"(" } })")));
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(Train(*p, TempDir("ve_teacher"), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("training.objective.options.teacher"),
                             HasSubstr("another forward process"))));
}

MixtureQuality RingQuality(Pipeline& p) {
  absl::StatusOr<Generated> g = Generate(p, {2000, 1});
  EXPECT_THAT(g, IsOk());
  at::Generator gen = at::detail::createCPUGenerator(1);
  return EvaluateAgainstMixture(g->samples, *p.data->mixture(),
                                p.data->mixture()->Sample(2000, gen));
}

TEST(ConsistencyTest, AStochasticOneStepEstimatorIsRefused) {
  auto p = BuildOrFail(RingText(kVp, Mlp("EDM", "sigma_data: 4"),
                                absl::StrCat(R"(name: "consistency_distillation" options {
                 [type.googleapis.com/diffuse.ConsistencyDistillationOptions] {
                   teacher_pipeline: ")", OracleTeacherFile(), R"("
                   solver { name: "partial_substitution" options {
                     [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 0.5 } } } } })")));
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(Train(*p, TempDir("stochastic_solver"), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("draws noise")));
}

// A short distillation of the exact oracle: in one and two calls the student populates
// every mode, and lands far fewer samples between them than DDIM with the oracle itself
// at the same calls (whose single call returns E[x0 | x_T], near the ring's centre).
TEST(ConsistencyTest, ADistilledRingModelBeatsTheExactOracleAtOneAndTwoCalls) {
  const std::string text = absl::StrReplaceAll(
      RingText(kVp, Mlp("EDM", "sigma_data: 4 hidden: 128"),
               absl::StrCat(R"(name: "consistency_distillation" options {
                 [type.googleapis.com/diffuse.ConsistencyDistillationOptions] {
                   teacher_pipeline: ")", OracleTeacherFile(), R"("
                   consistency { num_scales: 18 target_ema: 0.95 } } })"),
               1000, 1000),
      {{"hidden: 64 blocks: 2", ""}});
  auto p = BuildOrFail(text);
  ASSERT_NE(p, nullptr);
  ASSERT_THAT(Train(*p, TempDir("cd_quality"), nullptr), IsOk());
  double previous = 1;
  for (const char* grid : {"timesteps: [1000]", "timesteps: [1000, 500]"}) {
    auto s = BuildOrFail(absl::StrReplaceAll(text, {{"timesteps: [1000, 500]", grid}}));
    ASSERT_NE(s, nullptr);
    ASSERT_THAT(LoadWeightsForSampling(*s, CheckpointPath(TempPath("cd_quality"))), IsOk());
    const MixtureQuality q = RingQuality(*s);
    OracleText ddim;
    ddim.predictor = R"(name: "mixture_oracle" options {
        [type.googleapis.com/diffuse.MixtureOracleOptions] { class_conditional: false } })";
    ddim.sampler = grid;
    auto oracle = BuildOrFail(ddim.Text());
    ASSERT_NE(oracle, nullptr);
    const MixtureQuality baseline = RingQuality(*oracle);
    SCOPED_TRACE(absl::StrCat(grid, ": consistency ", q.ToString(), "; oracle DDIM ",
                              baseline.ToString()));
    EXPECT_LT(q.off_mode_fraction, baseline.off_mode_fraction - 0.3);
    EXPECT_LE(q.off_mode_fraction, previous);
    previous = q.off_mode_fraction;
    for (double f : q.mode_fraction) EXPECT_GT(f, 0.04);
  }
}

}  // namespace
}  // namespace diffuse
