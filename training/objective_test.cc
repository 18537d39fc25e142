#include "training/objective.h"

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <ATen/ops/tensor.h>
#include <torch/nn/module.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "assembly/test_support.h"
#include "assembly/train.h"
#include "forward/gaussian.h"
#include "gtest/gtest.h"
#include "models/x0_predictor.h"
#include "pipeline/registry.h"
#include "random/noise_source.h"
#include "training/diffusion_objective.h"
#include "training/objective_parts.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string PipelineText(int64_t steps, double learning_rate = 0.003, int checkpoint_every = 50,
                         const std::string& extra_training = "",
                         const std::string& extra_mlp = "") {
  return absl::StrCat(R"(
    data { name: "eight_gaussians" }
    forward { name: "gaussian_vp" }
    predictor { name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
      hidden: 64 blocks: 2 )", extra_mlp, R"( } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
    sampler { num_steps: 50 }
    training { batch_size: 256 seed: 3 steps: )",
                      steps, " learning_rate: ", learning_rate, " checkpoint_every: ",
                      checkpoint_every, " ", extra_training, " }");
}

// The weights reproduce the published per-parameterization forms: min-SNR-gamma is
// min(SNR, g) / SNR on the eps loss and min(SNR, g) / (SNR + 1) on the v loss (Hang et al.
// 2023, sec. 3.4); the UDM weight on an EDM-preconditioned model is the constant 1/2, since
// EDM's c_out^2 is exactly the Gaussian-data x0-posterior variance sigma_bar^2.
TEST(LossWeightsTest, MatchPublishedForms) {
  const Time t(at::tensor({1.0, 100.0, 400.0, 900.0}, at::kDouble));
  for (const char* kind : {"EPS", "V"}) {
    auto p = BuildOrFail(PipelineText(10, 0.003, 50, "loss_weighting: MIN_SNR min_snr_gamma: 5",
                                      absl::StrCat("parameterization: ", kind)));
    ASSERT_NE(p, nullptr);
    const GaussianCoefficients& g = *p->forward->gaussian();
    const at::Tensor snr = (AlphaTensor(g, t) / SigmaTensor(g, t)).pow(2);
    const at::Tensor expected =
        snr.clamp_max(5) / (std::string(kind) == "EPS" ? snr : snr + 1);
    EXPECT_TRUE(at::allclose(LossWeights(p->config.training(), *p->forward, *p->predictor->trainable(), t, 4).to(at::kDouble),
                                expected, 1e-5, 1e-7))
        << kind;
  }
  auto edm = BuildOrFail(PipelineText(10, 0.003, 50, "loss_weighting: UDM sigma_data: 4",
                                      "parameterization: EDM sigma_data: 4"));
  ASSERT_NE(edm, nullptr);
  EXPECT_TRUE(at::allclose(LossWeights(edm->config.training(), *edm->forward,
                                          *edm->predictor->trainable(), t, 4),
                              at::full({4}, 0.5f), 1e-5, 1e-6));
}
TEST(ObjectiveRegistryTest, EveryKindImpliesARegisteredObjective) {
  for (DescriptionKind kind : {DescriptionKind::kDiffusion, DescriptionKind::kAutoencoder,
                               DescriptionKind::kClassifier, DescriptionKind::kTextImage}) {
    EXPECT_TRUE(Registry<TrainingObjective>::Global().Contains(DefaultObjectiveName(kind)))
        << DescriptionKindName(kind);
  }
}

TEST(ObjectiveRegistryTest, ExplicitObjectiveIsCheckedAgainstTheDescription) {
  auto unknown = BuildOrFail(PipelineText(10, 0.003, 50, R"(objective { name: "nope" })"));
  ASSERT_NE(unknown, nullptr);
  EXPECT_THAT(BuildObjective(*unknown).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("training.objective.name: unknown component 'nope'"),
                             HasSubstr("contrastive, diffusion, noisy_classifier"))));
  auto wrong = BuildOrFail(PipelineText(10, 0.003, 50, R"(objective { name: "noisy_classifier" })"));
  ASSERT_NE(wrong, nullptr);
  EXPECT_THAT(BuildObjective(*wrong).status(),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("training.objective 'noisy_classifier': the noisy classifier's "
                                 "cross-entropy needs classifier and forward sections (this is "
                                 "a diffusion description)")));
  auto options = BuildOrFail(PipelineText(10, 0.003, 50, R"(objective { name: "diffusion"
      options { [type.googleapis.com/diffuse.MlpOptions] {} } })"));
  ASSERT_NE(options, nullptr);
  EXPECT_THAT(BuildObjective(*options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.objective.options: 'diffusion' takes diffuse.NoOptions")));
}

// Naming the objective a description implies trains exactly what leaving it out does.
TEST(ObjectiveRegistryTest, NamedObjectiveTrainsAsTheImpliedOne) {
  auto implied = BuildOrFail(PipelineText(30, 0.003, 50, "log_every: 10"));
  auto named = BuildOrFail(PipelineText(30, 0.003, 50, R"(log_every: 10 objective { name: "diffusion" })"));
  ASSERT_NE(implied, nullptr);
  ASSERT_NE(named, nullptr);
  const std::string tmp = getenv("TEST_TMPDIR");
  ASSERT_THAT(Train(*implied, tmp + "/implied", nullptr), IsOk());
  ASSERT_THAT(Train(*named, tmp + "/named", nullptr), IsOk());
  const std::vector<at::Tensor> a = implied->trained_module()->parameters();
  const std::vector<at::Tensor> b = named->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i], b[i])) << i;
}

// An objective written outside training/ (here, in this test) is registered and trained by
// name, with no other file touched: the squared x0 error of the predictor's E[x0 | x_t],
// logging the mean drawn t.
class X0ErrorObjective : public TrainingObjective {
 public:
  explicit X0ErrorObjective(const TrainingComponents& c) : c_(c) {}
  std::vector<std::string> TermNames() const override { return {"mean_t"}; }
  size_t StepTermCount() const override { return 1; }
  absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) override {
    const TrainingExample e = Corrupt(step, *c_.forward, 0, 0, nullptr);
    const at::Tensor x0_hat = c_.predictor->Predict(e.x_t, e.t, e.condition).x0;
    ObjectiveValue value;
    value.loss = (x0_hat - e.x0).square().mean();
    value.terms = {e.t.per_sample().mean()};
    return value;
  }
  void Report(const std::vector<double>& means, std::vector<std::string>* fields,
              std::string* line) const override {
    fields->push_back(absl::StrCat(means[0]));
    *line = absl::StrCat(" (mean t ", means[0], ")");
  }

 private:
  const TrainingComponents c_;
};

absl::StatusOr<std::unique_ptr<TrainingObjective>> MakeX0Error(const NoOptions&,
                                                               const TrainingComponents& c) {
  if (c.predictor == nullptr || c.predictor->trainable() == nullptr) {
    return absl::FailedPreconditionError("needs a trainable predictor");
  }
  return std::make_unique<X0ErrorObjective>(c);
}

DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "test_x0_error", NoOptions, MakeX0Error);

TEST(ObjectiveRegistryTest, AnObjectiveDefinedElsewhereTrainsByName) {
  auto p = BuildOrFail(PipelineText(200, 0.003, 100,
                                    R"(log_every: 100 objective { name: "test_x0_error" })"));
  ASSERT_NE(p, nullptr);
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/x0_error";
  absl::StatusOr<TrainingSummary> s = Train(*p, dir, nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, s->first_loss);
  std::ifstream metrics(dir + "/metrics.csv");
  std::string header, row;
  std::getline(metrics, header);
  std::getline(metrics, row);
  EXPECT_EQ(header, "step,loss,mean_t,steps_per_second,elapsed_seconds");
  // t ~ U{1..1000} over 100 steps of 256: the logged mean is near 500.5.
  const std::vector<std::string> fields = absl::StrSplit(row, ',');
  ASSERT_EQ(fields.size(), 5u);
  EXPECT_NEAR(std::stod(fields[2]), 500.5, 5);
}

// Corrupt draws t, then eps, from the step's generator and applies F_t: for gaussian_vp
// x_t = alpha(t) x0 + sigma(t) eps at integer t in 1..T, and the same seed draws the same.
TEST(ObjectivePartsTest, CorruptAppliesTheForwardProcessAtDrawnTimes) {
  auto p = BuildOrFail(PipelineText(10));
  ASSERT_NE(p, nullptr);
  auto draw = [&](uint64_t seed) {
    at::Generator generator = at::detail::createCPUGenerator(seed);
    GeneratorNoise noise(generator);
    const DataBatch data = p->data->Sample(64, generator);
    ObjectiveStep step;
    step.data = &data;
    step.x0 = data.x.narrow(0, 16, 32);
    step.generator = &generator;
    step.noise = &noise;
    step.shard_begin = 16;
    step.shard_size = 32;
    return Corrupt(step, *p->forward, 0, 0, nullptr);
  };
  const TrainingExample e = draw(5);
  const at::Tensor t = e.t.per_sample();
  ASSERT_EQ(t.size(0), 32);
  EXPECT_TRUE(at::equal(t, t.round()));
  EXPECT_GE(t.min().item<double>(), 1);
  EXPECT_LE(t.max().item<double>(), 1000);
  const GaussianCoefficients& g = *p->forward->gaussian();
  const at::Tensor alpha = AlphaTensor(g, e.t).to(at::kFloat).view({-1, 1});
  const at::Tensor sigma = SigmaTensor(g, e.t).to(at::kFloat).view({-1, 1});
  EXPECT_TRUE(at::allclose(e.x_t, alpha * e.x0 + sigma * e.eps, 1e-5, 1e-6));
  const TrainingExample again = draw(5);
  EXPECT_TRUE(at::equal(again.x_t, e.x_t));
  EXPECT_FALSE(at::equal(draw(6).x_t, e.x_t));
}

}  // namespace
}  // namespace diffuse
