// The U-Net predictor on Fashion-MNIST shapes: output shape, shared vs per-sample times,
// conditioning, the h-space hook (read, replace, remove), option errors, and a short
// training run whose loss falls.
#include "models/unet.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "pipeline/test_support.h"
#include "training/trainer.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::string Text(const std::string& unet_options, const std::string& training = "") {
  return absl::StrCat(R"(
    data { name: "fashion_mnist" }
    forward { name: "gaussian_vp" }
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] { )",
                      unet_options, R"( } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
    training { )", training, " }");
}

constexpr char kSmall[] = "base_channels: 16 channel_mult: [1, 2] attention_resolutions: [14] ";

TEST(UNetTest, PredictsImagesAndSharedEqualsPerSampleTime) {
  auto p = BuildOrFail(Text(absl::StrCat(kSmall, "class_conditional: true"),
                            "condition_dropout: 0.1"));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->predictor->conditions().num_classes, 10);
  EXPECT_TRUE(p->predictor->conditions().null_label);
  // Zero-initialized output: a fresh eps-network predicts eps = 0; perturb it to test more.
  torch::NoGradGuard no_grad;
  for (auto& w : p->predictor->trainable()->module().parameters()) w.add_(0.05 * torch::randn_like(w));
  const at::Tensor x = torch::randn({3, 1, 28, 28});
  Condition c;
  c.label = torch::tensor({0, 4, -1}, torch::kLong);
  const at::Tensor shared = p->predictor->Predict(x, 400.0, c).x0;
  EXPECT_EQ(shared.sizes(), x.sizes());
  const at::Tensor per_sample =
      p->predictor->Predict(x, Time(torch::full({3}, 400.0, torch::kFloat64)), c).x0;
  EXPECT_TRUE(torch::allclose(shared, per_sample, 1e-4, 1e-5));
  Condition other = c;
  other.label = torch::tensor({1, 4, -1}, torch::kLong);
  const at::Tensor changed = p->predictor->Predict(x, 400.0, other).x0;
  EXPECT_FALSE(torch::allclose(changed[0], shared[0]));  // the label conditions the output
  EXPECT_TRUE(torch::allclose(changed[1], shared[1], 1e-5, 1e-6));
}

TEST(UNetTest, BottleneckHookReadsAndReplacesH) {
  auto p = BuildOrFail(Text(kSmall));
  ASSERT_NE(p, nullptr);
  torch::NoGradGuard no_grad;
  for (auto& w : p->predictor->trainable()->module().parameters()) w.add_(0.05 * torch::randn_like(w));
  const at::Tensor x = torch::randn({2, 1, 28, 28});
  const at::Tensor plain = p->predictor->Predict(x, 300.0, {}).x0;
  std::vector<int64_t> seen_shape;
  double seen_t = -1;
  ASSERT_THAT(p->predictor->SetBottleneckHook([&](const at::Tensor& h, const Time& t) {
    seen_shape = h.sizes().vec();
    seen_t = t.shared();
    return h;
  }),
              IsOk());
  EXPECT_TRUE(torch::allclose(p->predictor->Predict(x, 300.0, {}).x0, plain));
  EXPECT_EQ(seen_shape, (std::vector<int64_t>{2, 32, 14, 14}));  // [B, 16 x 2, 28 / 2, 28 / 2]
  EXPECT_EQ(seen_t, 300.0);
  // Editing h (Asyrp's delta-h) changes the prediction; removing the hook restores it.
  ASSERT_THAT(p->predictor->SetBottleneckHook(
                  [](const at::Tensor& h, const Time&) { return h + 1.0; }),
              IsOk());
  EXPECT_FALSE(torch::allclose(p->predictor->Predict(x, 300.0, {}).x0, plain));
  ASSERT_THAT(p->predictor->SetBottleneckHook(nullptr), IsOk());
  EXPECT_TRUE(torch::allclose(p->predictor->Predict(x, 300.0, {}).x0, plain));
}

TEST(UNetTest, OptionErrorsNameTheOption) {
  EXPECT_THAT(BuildFromText(Text("base_channels: 12 groups: 8")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("groups = 8")));
  EXPECT_THAT(BuildFromText(Text("channel_mult: [1, 2, 2, 2]")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("divisible by 8")));
  EXPECT_THAT(BuildFromText(R"(data { name: "eight_gaussians" } forward { name: "gaussian_vp" }
      predictor { name: "unet" } prior { name: "standard_normal" } reverse { name: "substitution" })"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("image data")));
}

TEST(UNetTest, ShortTrainingLowersTheLossAndItsCheckpointLoads) {
  // Class-conditional, so the checkpoint holds every named submodule (a module named
  // "class" once made TorchScript's archive parser reject the file).
  const std::string text =
      Text(absl::StrCat(kSmall, "class_conditional: true"),
           "steps: 60 batch_size: 16 learning_rate: 0.002 log_every: 20 checkpoint_every: 60 "
           "seed: 1 condition_dropout: 0.1");
  auto p = BuildOrFail(text);
  ASSERT_NE(p, nullptr);
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/unet");
  absl::StatusOr<TrainingSummary> s = Train(*p, dir, nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, 0.7 * s->first_loss) << s->first_loss << " -> " << s->final_loss;

  auto loaded = BuildOrFail(text);
  ASSERT_NE(loaded, nullptr);
  ASSERT_THAT(LoadWeightsForSampling(*loaded, dir + "/checkpoint.pt"), IsOk());
  ASSERT_THAT(LoadWeightsForSampling(*p, dir + "/checkpoint.pt"), IsOk());
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({4, 1, 28, 28});
  Condition c;
  c.label = torch::tensor({0, 3, 9, -1}, torch::kLong);
  EXPECT_TRUE(torch::equal(p->predictor->Predict(x, 500.0, c).x0,
                           loaded->predictor->Predict(x, 500.0, c).x0));
}

}  // namespace
}  // namespace diffuse
