// Diffusion Autoencoders on Fashion-MNIST shapes: the encoder concept's builder checks,
// joint training of encoder and U-Net by the diffusion loss, and the encode / decode round
// trip through DDIM inversion.
#include "pipeline/encode.h"

#include <iostream>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "data/fashion_mnist_files.h"
#include "gtest/gtest.h"
#include "pipeline/generate.h"
#include "pipeline/test_support.h"
#include "training/trainer.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::string DiffAeText(int num_steps = 20, const std::string& encoder_latent = "16",
                       const std::string& schedule = "COSINE") {
  return absl::StrCat(R"(
    data { name: "fashion_mnist" }
    forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
      schedule: )", schedule, R"( } } }
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      base_channels: 8 channel_mult: [1, 2] attention_resolutions: [] groups: 4
      latent_dim: 16 } } }
    encoder { name: "semantic_encoder" options {
      [type.googleapis.com/diffuse.SemanticEncoderOptions] {
        base_channels: 8 channel_mult: [1, 2] groups: 4 latent_dim: )", encoder_latent, R"( } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
    sampler { num_steps: )", num_steps, R"( }
    training { steps: 90 batch_size: 16 learning_rate: 0.002 log_every: 30
               checkpoint_every: 90 seed: 1 }
  )");
}

at::Tensor TestImages(int64_t n) {
  absl::StatusOr<FashionMnistSplit> split = ReadFashionMnist(kFashionMnistDir, false);
  EXPECT_THAT(split, IsOk());
  return FashionMnistToFloat(split->images.slice(0, 0, n));
}

TEST(EncoderTest, BuilderChecksTheLatentWidthAndThePredictor) {
  EXPECT_THAT(BuildFromText(DiffAeText(20, "12")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encoder 'semantic_encoder' produces z of width 12 but "
                                 "predictor 'unet' takes latent_dim = 16")));
  std::string no_encoder = DiffAeText();
  no_encoder.erase(no_encoder.find("encoder {"),
                   no_encoder.find("prior {") - no_encoder.find("encoder {"));
  EXPECT_THAT(BuildFromText(no_encoder),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("conditioned on a latent of width 16; add an encoder")));
  OracleText oracle;
  oracle.guidance = R"(encoder { name: "semantic_encoder" })";
  EXPECT_THAT(BuildFromText(oracle.Text()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("needs real-valued image data")));
  std::unique_ptr<Pipeline> p = BuildOrFail(DiffAeText());
  ASSERT_NE(p, nullptr);
  const LatentPosterior q = p->encoder->Encode(TestImages(3), Time(0.0));
  EXPECT_EQ(q.mean.sizes(), at::IntArrayRef({3, 16}));
  EXPECT_FALSE(q.log_variance.defined());  // deterministic
  // Training sees both networks, under their names.
  bool has_encoder = false, has_predictor = false;
  for (const auto& item : p->trained_module()->named_parameters()) {
    has_encoder |= item.key().rfind("encoder.", 0) == 0;
    has_predictor |= item.key().rfind("predictor.", 0) == 0;
  }
  EXPECT_TRUE(has_encoder && has_predictor);
}

// The diffusion loss alone trains both: the loss falls, the encoder's weights move, and the
// trained decoder's output depends on z.
TEST(EncoderTest, JointTrainingTrainsEncoderAndDecoder) {
  std::unique_ptr<Pipeline> p = BuildOrFail(DiffAeText());
  ASSERT_NE(p, nullptr);
  std::vector<at::Tensor> before;
  for (const at::Tensor& w : p->encoder->module().parameters()) before.push_back(w.clone());
  absl::StatusOr<TrainingSummary> s =
      Train(*p, absl::StrCat(getenv("TEST_TMPDIR"), "/diffae"), nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, s->first_loss);
  const std::vector<at::Tensor> after = p->encoder->module().parameters();
  double moved = 0;
  for (size_t i = 0; i < after.size(); ++i) moved += (after[i] - before[i]).abs().sum().item<double>();
  EXPECT_GT(moved, 0);
  torch::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({2, 1, 28, 28});
  Condition a, b;
  a.latent = torch::randn({2, 16});
  b.latent = torch::randn({2, 16});
  EXPECT_FALSE(torch::allclose(p->predictor->Predict(x, 500.0, a).x0,
                               p->predictor->Predict(x, 500.0, b).x0));
}

// decode(encode(x)) = x up to the discretization of the deterministic process, which shrinks
// as the steps grow (inversion and decoding walk the same grid in opposite directions;
// first order: max error 1.35, 0.10, 0.026 at 10, 100, 400 steps on this untrained network).
TEST(EncoderTest, EncodeDecodeRoundTripShrinksWithSteps) {
  const at::Tensor x = TestImages(4);
  double previous = 1e9;
  for (int steps : {10, 100, 400}) {
    std::unique_ptr<Pipeline> p = BuildOrFail(DiffAeText(steps, "16", "LINEAR"));
    ASSERT_NE(p, nullptr);
    torch::NoGradGuard no_grad;
    torch::manual_seed(5);
    for (auto& w : p->trained_module()->parameters()) w.add_(0.003 * torch::randn_like(w));
    absl::StatusOr<Encoded> e = EncodeImages(*p, x, /*with_x_T=*/true);
    ASSERT_THAT(e, IsOk());
    GenerateRequest request;
    request.num = 4;
    request.x_start = e->x_T;
    request.latent = e->latent;
    absl::StatusOr<Generated> g = Generate(*p, request);
    ASSERT_THAT(g, IsOk());
    const double error = (g->samples - x).abs().max().item<double>();
    std::cerr << steps << " steps: round-trip error " << error << "\n";
    EXPECT_LT(error, previous) << steps << " steps";
    previous = error;
  }
  EXPECT_LT(previous, 0.05);
}

// Without an encoder EncodeImages is the plain model's DDIM inversion (docs/diffae.md's
// baseline): no z, and x_T decodes back to the images like DiffAE's does.
TEST(EncoderTest, WithoutAnEncoderOnlyXTIsInverted) {
  std::string plain = absl::StrReplaceAll(DiffAeText(100, "16", "LINEAR"), {{"latent_dim: 16 } } }", "} } }"}});
  plain.erase(plain.find("encoder {"), plain.find("prior {") - plain.find("encoder {"));
  std::unique_ptr<Pipeline> p = BuildOrFail(plain);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->encoder, nullptr);
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  for (auto& w : p->trained_module()->parameters()) w.add_(0.003 * torch::randn_like(w));
  const at::Tensor x = TestImages(4);
  absl::StatusOr<Encoded> e = EncodeImages(*p, x, /*with_x_T=*/true);
  ASSERT_THAT(e, IsOk());
  EXPECT_FALSE(e->latent.defined());
  GenerateRequest request;
  request.num = 4;
  request.x_start = e->x_T;
  absl::StatusOr<Generated> g = Generate(*p, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_LT((g->samples - x).abs().max().item<double>(), 0.15);
  EXPECT_THAT(EncodeImages(*p, x, /*with_x_T=*/false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no encoder section")));
}

TEST(EncoderTest, BadInputIsNamed) {
  std::unique_ptr<Pipeline> p = BuildOrFail(DiffAeText());
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(EncodeImages(*p, torch::zeros({2, 1, 27, 28}), false),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("want [N, 1, 28, 28]")));
  GenerateRequest request;
  request.num = 2;
  EXPECT_THAT(Generate(*p, request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("conditioned on a latent")));
  request.latent = torch::zeros({2, 15});
  EXPECT_THAT(Generate(*p, request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got [2, 15]")));
  OracleText oracle;
  std::unique_ptr<Pipeline> q = BuildOrFail(oracle.Text());
  ASSERT_NE(q, nullptr);
  EXPECT_THAT(EncodeImages(*q, torch::zeros({2, 2}), false),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no encoder section")));
}

}  // namespace
}  // namespace diffuse
