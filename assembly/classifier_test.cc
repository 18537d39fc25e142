// Trained noisy classifiers: a classifier description (data, forward, classifier) is
// trained by cross-entropy on x_t, resumes exactly, and guides a U-Net pipeline through
// classifier "trained_classifier" by eps_hat = eps - sigma s grad log p(y | x_t).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "assembly/test_support.h"
#include "assembly/trained_loader.h"
#include "data/fashion_mnist_files.h"
#include "forward/gaussian.h"
#include "gtest/gtest.h"
#include "pipeline/trained_description.h"
#include "assembly/train.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::string ClassifierText(int steps, const std::string& schedule = "COSINE",
                           const std::string& extra = "") {
  return absl::StrCat(R"(
    data { name: "fashion_mnist" }
    forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
      schedule: )", schedule, R"( } } }
    classifier { name: "unet_classifier" options {
      [type.googleapis.com/diffuse.UNetClassifierOptions] {
        base_channels: 8 channel_mult: [1, 2] attention_resolutions: [14] groups: 4 } } }
    training { steps: )", steps, R"( batch_size: 32 learning_rate: 0.003 log_every: 10
               checkpoint_every: 10 seed: 3 ema_decay: 0.9 }
  )", extra);
}

// A small U-Net pipeline on the same data, guided by the trained classifier.
std::string GuidedText(const std::string& checkpoint, double scale,
                       const std::string& schedule = "COSINE") {
  return absl::StrCat(R"(
    data { name: "fashion_mnist" }
    forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
      schedule: )", schedule, R"( } } }
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      base_channels: 8 channel_mult: [1, 2] attention_resolutions: [] groups: 4 } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
    guidance { name: "classifier" options {
      [type.googleapis.com/diffuse.ClassifierGuidanceOptions] { scale: )", scale, R"(
        classifier { name: "trained_classifier" options {
          [type.googleapis.com/diffuse.TrainedClassifierOptions] { checkpoint: ")",
                      checkpoint, R"(" } } } } } }
    sampler { num_steps: 10 }
  )");
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

at::Tensor TestImages(int64_t n) {
  absl::StatusOr<FashionMnistSplit> split = ReadFashionMnist(kFashionMnistDir, false);
  EXPECT_THAT(split, IsOk());
  return FashionMnistToFloat(split->images.slice(0, 0, n));
}

// Trains the test classifier once (200 steps) for the tests below.
const std::string& TrainedCheckpoint() {
  static const std::string* path = [] {
    const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/noisy_classifier";
    std::unique_ptr<Pipeline> p = BuildOrFail(ClassifierText(200));
    EXPECT_NE(p, nullptr);
    EXPECT_THAT(Train(*p, dir, nullptr), IsOk());
    return new std::string(CheckpointPath(dir));
  }();
  return *path;
}

TEST(NoisyClassifierTest, TrainsByCrossEntropyAndLogsItsAccuracy) {
  const std::string checkpoint = TrainedCheckpoint();
  const std::string dir = checkpoint.substr(0, checkpoint.rfind('/'));
  const std::vector<std::string> lines = Lines(dir + "/metrics.csv");
  ASSERT_EQ(lines.size(), 21u);
  EXPECT_EQ(lines[0], "step,loss,accuracy,steps_per_second,elapsed_seconds");
  double step, first_loss, first_accuracy, last_loss, last_accuracy;
  ASSERT_EQ(std::sscanf(lines[1].c_str(), "%lf,%lf,%lf", &step, &first_loss, &first_accuracy), 3);
  ASSERT_EQ(std::sscanf(lines[20].c_str(), "%lf,%lf,%lf", &step, &last_loss, &last_accuracy), 3);
  // Ten classes: the cross-entropy starts near ln 10 and falls; accuracy averages over all
  // noise levels, most of which hide the class, so it is only required to beat chance.
  EXPECT_NEAR(first_loss, std::log(10.0), 0.3);
  EXPECT_LT(last_loss, first_loss - 0.2);
  EXPECT_GT(last_accuracy, 0.2);

  // On clean-ish test images (t = 50 of 1000) the trained classifier beats chance by far.
  std::unique_ptr<Pipeline> p = BuildOrFail(ClassifierText(200));
  ASSERT_NE(p, nullptr);
  ASSERT_THAT(LoadWeightsForSampling(*p, checkpoint), IsOk());
  absl::StatusOr<FashionMnistSplit> split = ReadFashionMnist(kFashionMnistDir, false);
  ASSERT_THAT(split, IsOk());
  const at::Tensor x0 = FashionMnistToFloat(split->images.slice(0, 0, 500));
  const at::Tensor labels = split->labels.slice(0, 0, 500).to(torch::kLong);
  const GaussianCoefficients& g = *p->forward->gaussian();
  at::manual_seed(0);
  const at::Tensor x_t = g.Alpha(50) * x0 + g.Sigma(50) * torch::randn_like(x0);
  at::NoGradGuard no_grad;
  const at::Tensor log_p = p->classifier->LogProbabilities(x_t, Time(50.0));
  EXPECT_EQ(log_p.sizes(), at::IntArrayRef({500, 10}));
  EXPECT_LT(log_p.logsumexp(1).abs().max().item<double>(), 1e-5);  // normalized rows
  EXPECT_GT(log_p.argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>(), 0.4);
}

TEST(NoisyClassifierTest, ResumesExactly) {
  const std::string tmp = getenv("TEST_TMPDIR");
  std::unique_ptr<Pipeline> straight = BuildOrFail(ClassifierText(30));
  ASSERT_NE(straight, nullptr);
  ASSERT_THAT(Train(*straight, tmp + "/classifier_straight", nullptr), IsOk());
  std::unique_ptr<Pipeline> first = BuildOrFail(ClassifierText(10));
  ASSERT_THAT(Train(*first, tmp + "/classifier_resumed", nullptr), IsOk());
  std::unique_ptr<Pipeline> second = BuildOrFail(ClassifierText(30));
  ASSERT_THAT(Train(*second, tmp + "/classifier_resumed", nullptr), IsOk());
  const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                b = second->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

// The guided x0 moves by s sigma^2 / alpha grad_x log p(y | x_t): its length is checked
// against a central difference of the classifier's log-probability along that direction.
TEST(NoisyClassifierTest, GuidesAlongTheGradientOfTheTrainedClassifier) {
  const double scale = 3;
  std::unique_ptr<Pipeline> guided = BuildOrFail(GuidedText(TrainedCheckpoint(), scale));
  ASSERT_NE(guided, nullptr);
  ASSERT_EQ(guided->guidance.size(), 1u);
  EXPECT_EQ(guided->label_support().num_classes, 10);
  std::unique_ptr<Pipeline> reference = BuildOrFail(ClassifierText(200));
  ASSERT_NE(reference, nullptr);
  ASSERT_THAT(LoadWeightsForSampling(*reference, TrainedCheckpoint()), IsOk());

  const double t = 400;
  const GaussianCoefficients& g = *guided->forward->gaussian();
  at::manual_seed(1);
  const at::Tensor x0 = TestImages(4);
  const at::Tensor x_t = g.Alpha(t) * x0 + g.Sigma(t) * torch::randn_like(x0);
  const at::Tensor label = torch::tensor({0, 3, 5, 9}, torch::kLong);
  GuidanceInput in;
  in.predictor = guided->predictor.get();
  in.forward = guided->forward.get();
  in.x_t = x_t;
  in.t = Time(t);
  in.condition.label = label;
  X0Prediction unguided{torch::zeros_like(x_t), at::Tensor()};
  at::NoGradGuard no_grad;
  const at::Tensor shift = guided->guidance[0]->Guide(in, unguided).x0;
  const double factor = scale * g.Sigma(t) * g.Sigma(t) / g.Alpha(t);
  for (int64_t i = 0; i < 4; ++i) {
    const at::Tensor d = shift[i] / shift[i].norm();
    const double h = 1e-2;
    auto log_p = [&](const at::Tensor& x) {
      return reference->classifier
          ->LogProb(x.unsqueeze(0).to(torch::kFloat64).to(torch::kFloat32), Time(t), label.slice(0, i, i + 1))
          .item<double>();
    };
    const double directional = (log_p(x_t[i] + h * d) - log_p(x_t[i] - h * d)) / (2 * h);
    EXPECT_NEAR(shift[i].norm().item<double>() / factor, directional, 0.03 * directional) << i;
    EXPECT_GT(directional, 0) << i;
  }
}

TEST(NoisyClassifierTest, RefusesMismatchedOrWrongDescriptions) {
  const std::string checkpoint = TrainedCheckpoint();
  // The classifier read x_t of the cosine schedule; a linear-schedule pipeline is refused.
  EXPECT_THAT(BuildFromText(GuidedText(checkpoint, 1, "LINEAR")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("guidance[0] 'classifier': options.classifier "
                                 "'trained_classifier': option checkpoint: checkpoint " +
                                 checkpoint + " classifies x_t of another forward process: "
                                 "forward.options")));
  EXPECT_THAT(BuildFromText(GuidedText(checkpoint + ".missing", 1)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does not exist")));
  // A U-Net checkpoint is not a classifier's.
  const std::string unet_dir = std::string(getenv("TEST_TMPDIR")) + "/unet_for_classifier_test";
  {
    std::string text = GuidedText(checkpoint, 1);
    text.erase(text.find("guidance {"), text.find("sampler {") - text.find("guidance {"));
    text += "training { steps: 2 batch_size: 4 }";
    std::unique_ptr<Pipeline> unet = BuildOrFail(text);
    ASSERT_NE(unet, nullptr);
    ASSERT_THAT(Train(*unet, unet_dir, nullptr), IsOk());
  }
  EXPECT_THAT(BuildFromText(GuidedText(CheckpointPath(unet_dir), 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("was not trained from a classifier description")));
  // A classifier description holds nothing else of a diffusion model.
  EXPECT_THAT(BuildFromText(ClassifierText(5, "COSINE", R"(reverse { name: "substitution" })")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("classifier 'unet_classifier': a description with a classifier "
                                 "trains a noisy classifier and has no 'reverse' section")));
  std::string no_forward = ClassifierText(5);
  no_forward.erase(no_forward.find("forward {"),
                   no_forward.find("classifier {") - no_forward.find("forward {"));
  EXPECT_THAT(BuildFromText(no_forward), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("no 'forward' section")));
  EXPECT_THAT(BuildFromText(R"(
      data { name: "eight_gaussians" } forward { name: "gaussian_vp" }
      classifier { name: "mixture_oracle" })"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("classifier 'mixture_oracle' has no network to train")));
  // A loaded classifier is frozen: a description cannot train it again.
  EXPECT_THAT(BuildFromText(absl::StrCat(R"(
      data { name: "fashion_mnist" }
      forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
        schedule: COSINE } } }
      classifier { name: "trained_classifier" options {
        [type.googleapis.com/diffuse.TrainedClassifierOptions] { checkpoint: ")", checkpoint,
                                         R"(" } } })")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("classifier 'trained_classifier' has no network to train")));
  EXPECT_THAT(BuildFromText(R"(
      data { name: "eight_gaussians" } forward { name: "gaussian_vp" }
      classifier { name: "unet_classifier" })"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("classifier 'unet_classifier': needs real-valued image data")));
  std::unique_ptr<Pipeline> weighted = BuildOrFail(
      absl::StrReplaceAll(ClassifierText(5), {{"seed: 3", "seed: 3 loss_weighting: MIN_SNR"}}));
  ASSERT_NE(weighted, nullptr);
  EXPECT_THAT(Train(*weighted, std::string(getenv("TEST_TMPDIR")) + "/weighted", nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.loss_weighting MIN_SNR weights a diffusion loss")));
}

}  // namespace
}  // namespace diffuse
