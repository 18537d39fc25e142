#include "assembly/train.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "assembly/trained_loader.h"
#include "eval/mixture_metrics.h"
#include "forward/gaussian.h"
#include "gtest/gtest.h"
#include "models/trainable_model.h"
#include "pipeline/trained_description.h"
#include "training/checkpoint.h"
#include "util/run_control.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempDir(const std::string& name) {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  std::remove(CheckpointPath(dir).c_str());
  return dir;
}

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
    training { batch_size: 256 seed: 3 log_every: 50 steps: )",
                      steps, " learning_rate: ", learning_rate, " checkpoint_every: ",
                      checkpoint_every, " ", extra_training, " }");
}

// 2000 samples of a trained pipeline: every mode populated, few samples between modes.
void ExpectSamplesOnTheModes(Pipeline& p) {
  absl::StatusOr<Generated> g = Generate(p, {2000, 1, at::Tensor(), nullptr});
  ASSERT_THAT(g, IsOk());
  at::Generator gen = at::detail::createCPUGenerator(1);
  const MixtureQuality q = EvaluateAgainstMixture(
      g->samples, *p.data->mixture(), p.data->mixture()->Sample(2000, gen));
  SCOPED_TRACE(q.ToString());
  EXPECT_LT(q.off_mode_fraction, 0.2);
  for (double f : q.mode_fraction) EXPECT_GT(f, 0.05);
}

std::vector<at::Tensor> Weights(Pipeline& p) {
  return p.predictor->trainable()->module().parameters();
}

class TrainerLearnsTest : public ::testing::TestWithParam<const char*> {};

// eps-prediction, and EDM preconditioning (sigma_data = the ring's std, about 4).
TEST_P(TrainerLearnsTest, LossFallsAndSamplesLandOnTheModes) {
  auto p = BuildOrFail(PipelineText(1500, 0.003, 50, "", GetParam()));
  ASSERT_NE(p, nullptr);
  absl::StatusOr<TrainingSummary> s = Train(*p, TempDir("learns"), nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, 0.8 * s->first_loss);
  ExpectSamplesOnTheModes(*p);
}

// AdamW, warmup, gradient clipping and min-SNR weighting together still learn the ring.
TEST(TrainerTest, AdamWWarmupClippingAndMinSnrLearn) {
  auto p = BuildOrFail(PipelineText(
      1500, 0.003, 50,
      "weight_decay: 0.01 warmup_steps: 200 grad_clip_norm: 1 loss_weighting: MIN_SNR"));
  ASSERT_NE(p, nullptr);
  absl::StatusOr<TrainingSummary> s = Train(*p, TempDir("adamw"), nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, 0.8 * s->first_loss);
  ExpectSamplesOnTheModes(*p);
}

INSTANTIATE_TEST_SUITE_P(Parameterizations, TrainerLearnsTest,
                         ::testing::Values("parameterization: EPS",
                                           "parameterization: EDM sigma_data: 4"));

TEST(TrainerTest, ResumingFromACheckpointEqualsAnUninterruptedRun) {
  // Defaults (Adam), and AdamW with a warmup that crosses the resume point, clipping and the
  // UDM weighting.
  for (const std::string extra :
       {"", "weight_decay: 0.01 warmup_steps: 150 grad_clip_norm: 0.5 loss_weighting: UDM "
            "ema_warmup: true"}) {
    SCOPED_TRACE(extra);
    const std::string tag = extra.empty() ? "adam" : "adamw";
    auto straight = BuildOrFail(PipelineText(200, 0.003, 50, extra));
    ASSERT_NE(straight, nullptr);
    ASSERT_THAT(Train(*straight, TempDir("straight_" + tag), nullptr), IsOk());

    // Stop at 130 (last checkpoint there), then continue to 200 in a fresh process state.
    const std::string dir = TempDir("resumed_" + tag);
    auto first = BuildOrFail(PipelineText(130, 0.003, 50, extra));
    ASSERT_THAT(Train(*first, dir, nullptr), IsOk());
    auto second = BuildOrFail(PipelineText(200, 0.003, 50, extra));
    absl::StatusOr<TrainingSummary> s = Train(*second, dir, nullptr);
    ASSERT_THAT(s, IsOk());
    EXPECT_EQ(s->first_step, 130);
    const std::vector<at::Tensor> a = Weights(*straight), b = Weights(*second);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
    // metrics.csv has each logged step exactly once.
    std::ifstream csv(dir + "/metrics.csv");
    std::stringstream text;
    text << csv.rdbuf();
    EXPECT_EQ(text.str().find("100,"), text.str().rfind("100,"));
    EXPECT_NE(text.str().find("\n200,"), std::string::npos);
  }
}

// A stream that raises `signal` at its first write: the first progress line stands for a
// SIGTERM that arrives mid-run.
class RaiseOnFirstWrite : public std::streambuf {
 public:
  explicit RaiseOnFirstWrite(int signal) : signal_(signal) {}
 protected:
  int overflow(int c) override {
    if (signal_ != 0) std::raise(std::exchange(signal_, 0));
    return c;
  }
 private:
  int signal_;
};

std::string LogEvery30() {
  return absl::StrReplaceAll(PipelineText(100, 0.003, 1000), {{"log_every: 50", "log_every: 30"}});
}

TEST(TrainerTest, SigtermEndsTheStepWritesACheckpointAndResumesExactly) {
  // No checkpoint is due at step 30 (every 1000): the stop writes one.
  auto straight = BuildOrFail(LogEvery30());
  ASSERT_THAT(Train(*straight, TempDir("no_signal"), nullptr), IsOk());
  const std::string dir = TempDir("sigterm");
  auto first = BuildOrFail(LogEvery30());
  RaiseOnFirstWrite raiser(SIGTERM);
  std::ostream progress(&raiser);
  EXPECT_THAT(Train(*first, dir, &progress),
              StatusIs(absl::StatusCode::kCancelled,
                       AllOf(HasSubstr("stopped by Terminated after step 30 of 100"),
                             HasSubstr("checkpoint written to " + CheckpointPath(dir)))));
  auto second = BuildOrFail(LogEvery30());
  absl::StatusOr<TrainingSummary> s = Train(*second, dir, nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->first_step, 30);
  const std::vector<at::Tensor> a = Weights(*straight), b = Weights(*second);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

TEST(TrainerTest, ASecondTrainerOnTheSameDirectoryIsRefused) {
  const std::string dir = TempDir("locked");
  auto p = BuildOrFail(PipelineText(20));
  ASSERT_THAT(Train(*p, dir, nullptr), IsOk());  // creates the directory
  absl::StatusOr<DirectoryLock> other_run = DirectoryLock::Acquire(dir);
  ASSERT_THAT(other_run, IsOk());
  auto again = BuildOrFail(PipelineText(40));
  EXPECT_THAT(Train(*again, dir, nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr(dir + " is in use by another run")));
}

TEST(TrainerTest, ADamagedMetricsFileDoesNotStopAResume) {
  const std::string dir = TempDir("bad_metrics");
  auto first = BuildOrFail(PipelineText(100));
  ASSERT_THAT(Train(*first, dir, nullptr), IsOk());
  {
    std::ofstream csv(dir + "/metrics.csv", std::ios::app);
    csv << "garbage\n\x01\x02,,\n99999999999999999999999,1,2,3\n";
  }
  auto second = BuildOrFail(PipelineText(200));
  std::ostringstream progress;
  ASSERT_THAT(Train(*second, dir, &progress), IsOk());
  EXPECT_THAT(progress.str(), HasSubstr("metrics.csv: dropped 3 malformed line(s)"));
  std::ifstream csv(dir + "/metrics.csv");
  std::string line;
  int rows = 0;
  std::getline(csv, line);
  EXPECT_EQ(line, "step,loss,steps_per_second,elapsed_seconds");
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 4);  // 50, 100, 150, 200
}

// training.dtype FLOAT64: float64 weights, EMA and checkpoints; the same losses as float32
// to float32 accuracy; exact resume; sampling converts the weights to sampler.dtype.
TEST(TrainerTest, Float64TrainsResumesAndSamples) {
  auto p32 = BuildOrFail(PipelineText(100, 0.003, 50));
  auto p64 = BuildOrFail(PipelineText(100, 0.003, 50, "dtype: FLOAT64"));
  ASSERT_NE(p32, nullptr);
  ASSERT_NE(p64, nullptr);
  absl::StatusOr<TrainingSummary> s32 = Train(*p32, TempDir("f32"), nullptr);
  absl::StatusOr<TrainingSummary> s64 = Train(*p64, TempDir("f64"), nullptr);
  ASSERT_THAT(s32, IsOk());
  ASSERT_THAT(s64, IsOk());
  for (const at::Tensor& w : Weights(*p64)) ASSERT_EQ(w.scalar_type(), torch::kFloat64);
  EXPECT_NEAR(s64->first_loss, s32->first_loss, 1e-3 * s32->first_loss);
  EXPECT_NE(s64->first_loss, s32->first_loss);

  const std::string dir = TempDir("f64_resumed");
  auto first = BuildOrFail(PipelineText(60, 0.003, 50, "dtype: FLOAT64"));
  ASSERT_THAT(Train(*first, dir, nullptr), IsOk());
  auto second = BuildOrFail(PipelineText(100, 0.003, 50, "dtype: FLOAT64"));
  ASSERT_THAT(Train(*second, dir, nullptr), IsOk());
  const std::vector<at::Tensor> a = Weights(*p64), b = Weights(*second);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;

  absl::StatusOr<Generated> g = Generate(*second, {100, 1, at::Tensor(), nullptr});
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->samples.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::isfinite(g->samples).all().item<bool>());
}

// Both are pure functions of (options, step), which is what makes a resumed run exact.
TEST(TrainerTest, LearningRateScheduleAndEmaWarmupFollowTheirFormulas) {
  TrainingOptions o;
  o.set_learning_rate(1e-3);
  o.set_steps(1100);
  o.set_warmup_steps(100);
  EXPECT_DOUBLE_EQ(LearningRate(o, 0), 1e-5);
  EXPECT_DOUBLE_EQ(LearningRate(o, 49), 5e-4);
  EXPECT_DOUBLE_EQ(LearningRate(o, 700), 1e-3);  // CONSTANT
  o.set_lr_schedule(TrainingOptions::COSINE);
  o.set_final_lr_ratio(0.1);
  EXPECT_DOUBLE_EQ(LearningRate(o, 99), 1e-3);   // end of the warmup
  EXPECT_DOUBLE_EQ(LearningRate(o, 100), 1e-3);  // cosine starts at the peak
  // Step 499 of the 1,000 cosine steps: progress 499 / 999.
  EXPECT_NEAR(LearningRate(o, 100 + 499), 1e-4 + 0.5 * 9e-4 * (1 + std::cos(M_PI * 499 / 999)),
              1e-15);
  EXPECT_NEAR(LearningRate(o, 1099), 1e-4, 1e-15);  // the last step ends at final_lr_ratio
  o.set_ema_decay(0.999);
  EXPECT_DOUBLE_EQ(EmaDecay(o, 0), 0.999);
  o.set_ema_warmup(true);
  EXPECT_DOUBLE_EQ(EmaDecay(o, 0), 0.1);
  EXPECT_DOUBLE_EQ(EmaDecay(o, 90), 0.91);
  EXPECT_DOUBLE_EQ(EmaDecay(o, 100000), 0.999);
}

TEST(TrainerTest, ACorruptedCheckpointIsAnErrorAndIsNotOverwritten) {
  const std::string dir = TempDir("corrupt");
  auto p = BuildOrFail(PipelineText(50));
  ASSERT_THAT(Train(*p, dir, nullptr), IsOk());
  std::string bytes;
  {
    std::ifstream in(CheckpointPath(dir), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes.resize(bytes.size() / 2);
  std::ofstream(CheckpointPath(dir), std::ios::binary) << bytes;
  auto again = BuildOrFail(PipelineText(100));
  EXPECT_THAT(Train(*again, dir, nullptr),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(CheckpointPath(dir)), HasSubstr("is truncated"))));
  std::ifstream in(CheckpointPath(dir), std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), bytes);
  EXPECT_THAT(LoadWeightsForSampling(*again, dir + "/missing.pt"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.pt")));
}

TEST(TrainerTest, ACheckpointOfAnotherPipelineIsNotResumed) {
  const std::string dir = TempDir("other");
  auto p = BuildOrFail(PipelineText(50));
  ASSERT_THAT(Train(*p, dir, nullptr), IsOk());
  auto other = BuildOrFail(PipelineText(100, 0.01));
  EXPECT_THAT(Train(*other, dir, nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("was trained from another description: "
                                 "training.learning_rate: 0.003 in the checkpoint, 0.01 here")));
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

TEST(TrainerTest, AFlippedByteIsCaughtByTheChecksum) {
  const std::string dir = TempDir("flipped");
  auto p = BuildOrFail(PipelineText(50));
  ASSERT_THAT(Train(*p, dir, nullptr), IsOk());
  std::string bytes = ReadBytes(CheckpointPath(dir));
  ASSERT_EQ(bytes.rfind("diffuse-checkpoint-v3 crc32=", 0), 0u);
  bytes[bytes.size() * 3 / 4] ^= 0x10;  // inside the tensor data
  WriteBytes(CheckpointPath(dir), bytes);
  auto again = BuildOrFail(PipelineText(50));
  EXPECT_THAT(LoadWeightsForSampling(*again, CheckpointPath(dir)),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(CheckpointPath(dir)), HasSubstr("corrupted: CRC-32"))));
}

TEST(TrainerTest, ACheckpointOfAnotherNetworkOrDescriptionIsNotUsedForSampling) {
  const std::string dir = TempDir("mismatch");
  auto p = BuildOrFail(PipelineText(50));
  ASSERT_THAT(Train(*p, dir, nullptr), IsOk());
  // module.load() would silently take tensors of any shape; the width is checked.
  auto narrow = BuildOrFail(absl::StrReplaceAll(PipelineText(50), {{"hidden: 64", "hidden: 32"}}));
  EXPECT_THAT(LoadWeightsForSampling(*narrow, CheckpointPath(dir)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(CheckpointPath(dir)),
                             HasSubstr("does not fit this pipeline's network: parameter"),
                             HasSubstr("[64, 64] there, [32, 64] here"))));
  // Same shapes, another forward process: the weights would mean something else.
  auto cosine = BuildOrFail(absl::StrReplaceAll(
      PipelineText(50), {{"forward { name: \"gaussian_vp\" }",
                          "forward { name: \"gaussian_vp\" options { "
                          "[type.googleapis.com/diffuse.GaussianVpOptions] { schedule: COSINE } } }"}}));
  EXPECT_THAT(LoadWeightsForSampling(*cosine, CheckpointPath(dir)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(CheckpointPath(dir)),
                             HasSubstr("trained from another description: forward.options"),
                             HasSubstr("unset in the checkpoint"))));
  // The sampler and reverse process are free to change.
  auto fewer_steps = BuildOrFail(absl::StrReplaceAll(
      PipelineText(50), {{"sampler { num_steps: 50 }", "sampler { num_steps: 20 }"}}));
  EXPECT_THAT(LoadWeightsForSampling(*fewer_steps, CheckpointPath(dir)), IsOk());
}

TEST(TrainerTest, ANonFiniteLossStopsTrainingAndKeepsTheLastGoodCheckpoint) {
  const std::string dir = TempDir("diverges");
  auto p = BuildOrFail(PipelineText(1000, 1e30, 1));
  absl::StatusOr<TrainingSummary> s = Train(*p, dir, nullptr);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          AllOf(HasSubstr("training: loss is"), HasSubstr("last good checkpoint"))));
  TrainingState state;
  auto fresh = BuildOrFail(PipelineText(1000, 1e30, 1));
  ASSERT_THAT(LoadCheckpoint(CheckpointPath(dir), fresh->predictor->trainable()->module(),
                             nullptr, &state),
              IsOk());
  for (const at::Tensor& w : fresh->predictor->trainable()->module().parameters()) {
    EXPECT_TRUE(w.isfinite().all().item<bool>());
  }
}

TEST(TrainerTest, BadTrainingOptionsAreNamed) {
  auto p = BuildOrFail(PipelineText(100, 0.003, 50, "ema_decay: 1.5"));
  EXPECT_THAT(Train(*p, TempDir("bad"), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("training.ema_decay must be in [0, 1)")));
  auto ratio = BuildOrFail(PipelineText(100, 0.003, 50, "lr_schedule: COSINE final_lr_ratio: 2"));
  EXPECT_THAT(Train(*ratio, TempDir("bad_ratio"), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.final_lr_ratio = 2 must be in [0, 1]")));
  auto oracle = BuildOrFail(OracleText().Text() + "training { steps: 10 }");
  EXPECT_THAT(Train(*oracle, TempDir("oracle"), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("'mixture_oracle' has no trainable network")));
}

}  // namespace
}  // namespace diffuse
