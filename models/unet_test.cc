// The U-Net predictor on Fashion-MNIST shapes: output shape, shared vs per-sample times,
// conditioning, the h-space hook (read, replace, remove), option errors, and a short
// training run whose loss falls.
#include "models/unet.h"

#include <iostream>

#include <ATen/core/grad_mode.h>
#include <torch/nn/functional/conv.h>
#include <torch/nn/functional/linear.h>
#include <torch/nn/functional/normalization.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "assembly/trained_loader.h"
#include "gtest/gtest.h"
#include "models/network_predictor.h"
#include "pipeline/trained_description.h"
#include "assembly/train.h"
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
  at::NoGradGuard no_grad;
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

// Diffusion Autoencoders' conditioning (Preechakul et al. 2022, eq. 8), written out from the
// block's own parameters: h = z_s (t_s GroupNorm(h) + t_b), z_s = 1 + W silu(z) + c.
TEST(UNetTest, LatentScalesTheAdaptiveGroupNormAsDiffAe) {
  at::manual_seed(3);
  ResBlock block(8, 8, /*emb_dim=*/12, /*groups=*/4, /*latent_dim=*/5);
  at::NoGradGuard no_grad;
  for (auto& w : block->parameters()) w.copy_(0.3 * torch::randn_like(w));
  auto param = [&](const std::string& name) { return block->named_parameters()[name]; };
  const at::Tensor x = torch::randn({2, 8, 6, 6});
  const at::Tensor emb = torch::randn({2, 12});
  const at::Tensor z = torch::randn({2, 5});
  namespace F = torch::nn::functional;
  at::Tensor h = F::group_norm(x, F::GroupNormFuncOptions(4).weight(param("norm1.weight"))
                                      .bias(param("norm1.bias")));
  h = F::conv2d(torch::silu(h), param("conv1.weight"),
                F::Conv2dFuncOptions().bias(param("conv1.bias")).padding(1));
  h = F::group_norm(h, F::GroupNormFuncOptions(4));
  const at::Tensor ts_tb = F::linear(torch::silu(emb), param("emb.weight"), param("emb.bias"));
  const at::Tensor t_s = 1 + ts_tb.slice(1, 0, 8).view({2, 8, 1, 1});
  const at::Tensor t_b = ts_tb.slice(1, 8, 16).view({2, 8, 1, 1});
  const at::Tensor z_s =
      1 + F::linear(torch::silu(z), param("cond.weight"), param("cond.bias")).view({2, 8, 1, 1});
  h = z_s * (t_s * h + t_b);
  const at::Tensor want =
      x + F::conv2d(torch::silu(h), param("conv2.weight"),
                    F::Conv2dFuncOptions().bias(param("conv2.bias")).padding(1));
  EXPECT_TRUE(torch::allclose(block(x, emb, z), want, 1e-5, 1e-5));
  // Another z, another output.
  EXPECT_FALSE(torch::allclose(block(x, emb, torch::zeros({2, 5})), want, 1e-3, 1e-3));
}

TEST(UNetTest, BottleneckHookReadsAndReplacesH) {
  auto p = BuildOrFail(Text(kSmall));
  ASSERT_NE(p, nullptr);
  at::NoGradGuard no_grad;
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
  EXPECT_THAT(BuildFromText(Text("base_channels: 12 groups: 4 context_dim: 8 cross_attention_heads: 5")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("option cross_attention_heads = 5 does not divide 12 channels")));
}

// Cross-attention against its closed form: with one real token every position attends to
// it alone, so the output is x + proj(v) for that token's value v, whatever the padding
// holds; and the shapes of a U-Net that reads token states.
TEST(UNetTest, CrossAttentionReadsOnlyTheUnmaskedTokens) {
  at::manual_seed(1);
  CrossAttention cross(8, 6, 2, 4);
  at::NoGradGuard no_grad;
  for (auto& w : cross->parameters()) w.add_(0.1 * torch::randn_like(w));
  const at::Tensor x = torch::randn({2, 8, 3, 5});
  at::Tensor context = torch::randn({2, 4, 6});
  const at::Tensor mask = torch::tensor({1, 0, 0, 0, 1, 1, 1, 0}, torch::kBool).view({2, 4});
  const at::Tensor out = cross(x, context, mask);
  ASSERT_EQ(out.sizes(), x.sizes());
  auto params = cross->named_parameters();
  const at::Tensor v = torch::nn::functional::linear(context[0][0], params["value.weight"],
                                                     params["value.bias"]);  // [8]
  const at::Tensor expected =
      x[0] + torch::conv2d(v.view({1, 8, 1, 1}).expand({1, 8, 3, 5}), params["proj.weight"],
                           params["proj.bias"])[0];
  EXPECT_TRUE(torch::allclose(out[0], expected, 1e-5, 1e-5));
  // Padding (masked tokens) is never read; a real token is.
  at::Tensor padded = context.clone();
  padded[0].slice(0, 1) = 100;
  padded[1][3] = -100;
  EXPECT_TRUE(torch::allclose(cross(x, padded, mask), out, 1e-5, 1e-6));
  padded[1][1] = 3;
  EXPECT_FALSE(torch::allclose(cross(x, padded, mask)[1], out[1], 1e-3, 1e-3));

  auto p = BuildOrFail(Text(absl::StrCat(kSmall, "groups: 4 context_dim: 6 cross_attention_heads: 2")));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->predictor->conditions().context_dim, 6);
  for (auto& w : p->predictor->trainable()->module().parameters()) w.add_(0.05 * torch::randn_like(w));
  Condition c;
  c.context = context;
  c.context_mask = mask;
  const at::Tensor x_t = torch::randn({2, 1, 28, 28});
  const at::Tensor x0 = p->predictor->Predict(x_t, 300.0, c).x0;
  EXPECT_EQ(x0.sizes(), x_t.sizes());
  c.context = padded;
  EXPECT_FALSE(torch::allclose(p->predictor->Predict(x_t, 300.0, c).x0[1], x0[1], 1e-4, 1e-4));
  EXPECT_TRUE(torch::allclose(p->predictor->Predict(x_t, 300.0, c).x0[0], x0[0], 1e-5, 1e-6));
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
  ASSERT_THAT(LoadWeightsForSampling(*loaded, CheckpointPath(dir)), IsOk());
  ASSERT_THAT(LoadWeightsForSampling(*p, CheckpointPath(dir)), IsOk());
  at::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({4, 1, 28, 28});
  Condition c;
  c.label = torch::tensor({0, 3, 9, -1}, torch::kLong);
  EXPECT_TRUE(torch::equal(p->predictor->Predict(x, 500.0, c).x0,
                           loaded->predictor->Predict(x, 500.0, c).x0));
}

TEST(UNetTest, TokenInputHasAValueAndAMaskChannel) {
  // K = 4 grey levels and the mask state 4.
  const at::Tensor tokens = torch::tensor({0, 3, 4, 1}, torch::kLong).view({1, 1, 1, 4});
  const at::Tensor input = TokenInput(tokens, 4);
  ASSERT_EQ(input.sizes(), (std::vector<int64_t>{1, 2, 1, 4}));
  EXPECT_TRUE(torch::allclose(input[0][0].flatten(), torch::tensor({-1.0f, 1.0f, 0.0f, -1.0f / 3})));
  EXPECT_TRUE(torch::equal(input[0][1].flatten(), torch::tensor({0.0f, 0.0f, 1.0f, 0.0f})));
  // Channel-major K logits per data channel: channel c * K + k is logit k of channel c.
  const at::Tensor out = torch::arange(2 * 3 * 5, torch::kFloat32).view({1, 2 * 3, 5});
  const at::Tensor logits = OutputToLogits(out, 3);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{1, 2, 5, 3}));
  EXPECT_EQ(logits[0][1][4][2].item<float>(), out[0][1 * 3 + 2][4].item<float>());
}

// Masking on grey-level tokens: the U-Net outputs logits, learns by cross entropy, and the
// absorbing posterior turns every mask into a grey level.
TEST(UNetTest, OnGreyLevelTokensItPredictsLogitsAndSamplesTokens) {
  const std::string text = absl::StrCat(R"(
    data { name: "fashion_mnist" options { [type.googleapis.com/diffuse.FashionMnistOptions] {
      grey_levels: 4 } } }
    forward { name: "masking" options { [type.googleapis.com/diffuse.MaskingOptions] {
      num_classes: 4 num_steps: 20 } } }
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] { )",
      kSmall, R"( parameterization: X0 } } }
    prior { name: "forward_terminal" }
    reverse { name: "absorbing_posterior" }
    sampler { num_steps: 20 batch_size: 8 }
    training { steps: 150 batch_size: 16 learning_rate: 0.003 log_every: 30
               checkpoint_every: 150 seed: 1 })");
  auto p = BuildOrFail(text);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->predictor->predicts_logits());
  {
    at::NoGradGuard no_grad;
    const X0Prediction y = p->predictor->Predict(torch::full({2, 1, 28, 28}, 4, torch::kLong),
                                                 20.0, Condition());
    EXPECT_EQ(y.logits.sizes(), (std::vector<int64_t>{2, 1, 28, 28, 4}));
    EXPECT_TRUE(torch::equal(y.x0, y.logits.argmax(-1)));
  }
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/unet_tokens");
  absl::StatusOr<TrainingSummary> s = Train(*p, dir, nullptr);
  ASSERT_THAT(s, IsOk());
  // A predictor that knows only the grey-level frequencies p_k scores, per pixel, the
  // entropy H(p) where masked and 0 where not: E[t / T] H(p) = (T + 1) / 2T H(p) for t
  // uniform on 1..T. The trained U-Net must beat it, i.e. use the unmasked context.
  at::Generator gen = at::detail::createCPUGenerator(5);
  const at::Tensor freq =
      torch::bincount(p->data->Sample(2000, gen).x.flatten(), {}, 4).to(torch::kFloat64) /
      (2000.0 * 784);
  const double marginal_only = -(freq * freq.log()).sum().item<double>() * 21.0 / 40.0;
  EXPECT_LT(s->final_loss, 0.9 * marginal_only) << s->first_loss << " -> " << s->final_loss;
  std::cout << "cross entropy " << s->first_loss << " -> " << s->final_loss
            << " nats; grey-level frequencies alone: " << marginal_only << "\n";
  GenerateRequest request;
  request.num = 8;
  request.seed = 3;
  ASSERT_OK_AND_ASSIGN(Generated g, Generate(*p, request));
  EXPECT_EQ(g.samples.scalar_type(), torch::kLong);
  EXPECT_EQ(g.samples.sizes(), (std::vector<int64_t>{8, 1, 28, 28}));
  EXPECT_GE(g.samples.min().item<int64_t>(), 0);
  EXPECT_LT(g.samples.max().item<int64_t>(), 4);  // no mask left

  EXPECT_THAT(BuildFromText(absl::StrReplaceAll(text, {{"parameterization: X0", ""}})),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("option parameterization must be X0")));
}

}  // namespace
}  // namespace diffuse
