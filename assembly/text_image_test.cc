// Text-image models and text: a text-image description (captioned data, an image encoder,
// a text encoder) is trained by the contrastive loss and resumes exactly; guidance "clip"
// moves x0_hat by s sigma^2 / alpha grad cos(E_img, E_text(prompt)) on x_t (noise-aware
// model) or through the predictor (clean model); a U-Net conditioned on prompt embeddings
// samples from prompts, with classifier-free guidance against a negative prompt.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "assembly/trained_loader.h"
#include "data/fashion_captions.h"
#include "data/fashion_mnist_files.h"
#include "forward/gaussian.h"
#include "gtest/gtest.h"
#include "models/prompts.h"
#include "pipeline/trained_description.h"
#include "assembly/train.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr char kCosine[] = R"(
    forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
      schedule: COSINE } } })";

// A small text-image description; noisy: with the forward process (a noise-aware encoder).
std::string TextImageText(int steps, bool noisy, const std::string& extra = "") {
  return absl::StrCat(R"(
    data { name: "fashion_mnist" })", noisy ? kCosine : "", R"(
    encoder { name: "semantic_encoder" options { [type.googleapis.com/diffuse.SemanticEncoderOptions] {
      latent_dim: 16 base_channels: 8 channel_mult: [1, 2] groups: 4 )",
                      noisy ? "time_input: true" : "", R"( } } }
    text_encoder { name: "bag_of_words" options { [type.googleapis.com/diffuse.BagOfWordsOptions] {
      embedding_dim: 16 hidden_dim: 32 } } }
    training { steps: )", steps, R"( batch_size: 64 learning_rate: 0.003 log_every: 10
               checkpoint_every: 10 seed: 4 ema_decay: 0.9 caption_word_dropout: 0.3 }
  )", extra);
}

// A small U-Net pipeline on the same data, with `sections` (guidance, text_encoder) and
// the sampler's prompts.
std::string UNetText(const std::string& sections, const std::string& sampler,
                     int latent_dim = 0) {
  return absl::StrCat(R"(
    data { name: "fashion_mnist" })", kCosine, R"(
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      parameterization: V base_channels: 8 channel_mult: [1, 2] attention_resolutions: []
      groups: 4 latent_dim: )", latent_dim, R"( } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
  )", sections, " sampler { num_steps: 4 ", sampler, " }");
}

std::string ClipGuidance(const std::string& checkpoint, double scale) {
  return absl::StrCat(R"(guidance { name: "clip" options {
      [type.googleapis.com/diffuse.ClipGuidanceOptions] { checkpoint: ")", checkpoint,
                      R"(" scale: )", scale, " } } }");
}

std::string TrainedTextEncoder(const std::string& checkpoint) {
  return absl::StrCat(R"(text_encoder { name: "trained_text_encoder" options {
      [type.googleapis.com/diffuse.TrainedTextEncoderOptions] { checkpoint: ")", checkpoint,
                      R"(" } } })");
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Trains a text-image model once per (steps, noisy) for the tests below.
std::string Trained(int steps, bool noisy) {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/text_image_", steps,
                                       noisy ? "_noisy" : "");
  if (!std::ifstream(CheckpointPath(dir)).good()) {
    std::unique_ptr<Pipeline> p = BuildOrFail(TextImageText(steps, noisy));
    EXPECT_NE(p, nullptr);
    EXPECT_THAT(Train(*p, dir, nullptr), IsOk());
  }
  return CheckpointPath(dir);
}

TEST(TextImageTest, TrainsContrastivelyAndMatchesTestImagesToTheirClassWords) {
  const std::string checkpoint = Trained(300, false);
  const std::string dir = checkpoint.substr(0, checkpoint.rfind('/'));
  const std::vector<std::string> lines = Lines(dir + "/metrics.csv");
  ASSERT_EQ(lines.size(), 31u);
  EXPECT_EQ(lines[0], "step,loss,accuracy,steps_per_second,elapsed_seconds");
  double step, first_loss, first_accuracy, last_loss, last_accuracy;
  ASSERT_EQ(std::sscanf(lines[1].c_str(), "%lf,%lf,%lf", &step, &first_loss, &first_accuracy), 3);
  ASSERT_EQ(std::sscanf(lines[30].c_str(), "%lf,%lf,%lf", &step, &last_loss, &last_accuracy), 3);
  EXPECT_LT(last_loss, first_loss - 0.5);
  EXPECT_GT(last_accuracy, first_accuracy + 0.1);

  // Zero-shot classification of held-out images by the nearest class word, and the
  // attribute word of each image's own class: both well above chance (0.1 and 0.5).
  std::unique_ptr<Pipeline> p = BuildOrFail(TextImageText(300, false));
  ASSERT_NE(p, nullptr);
  ASSERT_THAT(LoadWeightsForSampling(*p, checkpoint), IsOk());
  absl::StatusOr<FashionMnistSplit> split = ReadFashionMnist(kFashionMnistDir, false);
  ASSERT_THAT(split, IsOk());
  const at::Tensor x0 = FashionMnistToFloat(split->images.slice(0, 0, 500));
  const at::Tensor labels = split->labels.slice(0, 0, 500).to(torch::kLong);
  at::NoGradGuard no_grad;
  at::Tensor image = p->encoder->Encode(x0, Time(0.0)).mean;
  image = image / image.norm(2, 1, true);
  std::vector<std::string> classes(kFashionClassWords.begin(), kFashionClassWords.end());
  absl::StatusOr<at::Tensor> words = EmbedPrompts(*p->text_encoder, classes, "classes");
  ASSERT_THAT(words, IsOk());
  const double zero_shot =
      image.matmul(words->t()).argmax(1).eq(labels).to(torch::kFloat64).mean().item<double>();
  EXPECT_GT(zero_shot, 0.5);
  const auto captions = FashionCaptioner().Caption(x0, labels);
  int brightness_right = 0;
  for (int64_t i = 0; i < 500; ++i) {
    const std::string c = captions[i][0];
    absl::StatusOr<at::Tensor> pair =
        EmbedPrompts(*p->text_encoder, {c + " dark", c + " light"}, "pair");
    ASSERT_THAT(pair, IsOk());
    const bool light = (image[i] * ((*pair)[1] - (*pair)[0])).sum().item<double>() > 0;
    brightness_right += light == (captions[i][2] == "light");
  }
  EXPECT_GT(brightness_right / 500.0, 0.6);
}

TEST(TextImageTest, ResumesExactly) {
  const std::string tmp = getenv("TEST_TMPDIR");
  std::unique_ptr<Pipeline> straight = BuildOrFail(TextImageText(30, true));
  ASSERT_NE(straight, nullptr);
  ASSERT_THAT(Train(*straight, tmp + "/ti_straight", nullptr), IsOk());
  std::unique_ptr<Pipeline> first = BuildOrFail(TextImageText(10, true));
  ASSERT_THAT(Train(*first, tmp + "/ti_resumed", nullptr), IsOk());
  std::unique_ptr<Pipeline> second = BuildOrFail(TextImageText(30, true));
  ASSERT_THAT(Train(*second, tmp + "/ti_resumed", nullptr), IsOk());
  const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                b = second->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

// The guided x0 moves by s sigma^2 / alpha grad_{x_t} cos: its length equals the central
// difference of the cosine along its direction, read on x_t (noise-aware) or on the
// predictor's x0_hat(x_t) (clean).
TEST(ClipGuidanceTest, MovesAlongTheGradientOfTheCosine) {
  for (const bool noisy : {true, false}) {
    SCOPED_TRACE(noisy ? "noise-aware" : "clean");
    const std::string checkpoint = Trained(20, noisy);
    const double scale = 50;
    std::unique_ptr<Pipeline> guided = BuildOrFail(UNetText(
        ClipGuidance(checkpoint, scale),
        R"(prompts: ["dark sandal", "light bag"] negative_prompt: "small")"));
    ASSERT_NE(guided, nullptr);
    EXPECT_TRUE(guided->label_support().prompts);
    std::unique_ptr<Pipeline> model = BuildOrFail(TextImageText(20, noisy));
    ASSERT_NE(model, nullptr);
    ASSERT_THAT(LoadWeightsForSampling(*model, checkpoint), IsOk());
    absl::StatusOr<at::Tensor> e =
        EmbedPrompts(*model->text_encoder, {"dark sandal", "light bag", "small"}, "p");
    ASSERT_THAT(e, IsOk());

    const double t = 400;
    const GaussianCoefficients& g = *guided->forward->gaussian();
    at::manual_seed(2);
    const at::Tensor x_t = torch::randn({2, 1, 28, 28});
    GuidanceInput in;
    in.predictor = guided->predictor.get();
    in.forward = guided->forward.get();
    in.x_t = x_t;
    in.t = Time(t);
    in.condition.prompt = torch::tensor({0, 1}, torch::kLong);
    X0Prediction unguided{torch::zeros_like(x_t), at::Tensor()};
    at::NoGradGuard no_grad;
    const at::Tensor shift = guided->guidance[0]->Guide(in, unguided).x0;
    const double factor = scale * g.Sigma(t) * g.Sigma(t) / g.Alpha(t);
    for (int64_t i = 0; i < 2; ++i) {
      auto cosine = [&](const at::Tensor& x) {
        const at::Tensor batch = x.unsqueeze(0);
        const at::Tensor image =
            noisy ? batch : guided->predictor->Predict(batch, Time(t), Condition()).x0;
        at::Tensor emb = model->encoder->Encode(image, noisy ? Time(t) : Time(0.0)).mean;
        emb = emb / emb.norm(2, 1, true);
        return ((emb[0] * (*e)[i]).sum() - (emb[0] * (*e)[2]).sum()).item<double>();
      };
      const at::Tensor d = shift[i] / shift[i].norm();
      const double h = 1e-2;
      const double directional = (cosine(x_t[i] + h * d) - cosine(x_t[i] - h * d)) / (2 * h);
      EXPECT_GT(directional, 0) << i;
      EXPECT_NEAR(shift[i].norm().item<double>() / factor, directional, 0.05 * directional) << i;
    }
  }
}

// A U-Net conditioned on prompt embeddings: trained from captions, sampled from prompts;
// classifier-free guidance mixes the prompt's and the negative prompt's predictions.
TEST(TextConditionedTest, TrainsOnCaptionsAndGuidesAgainstTheNegativePrompt) {
  const std::string encoder = TrainedTextEncoder(Trained(20, false));
  const std::string cfg = R"(guidance { name: "classifier_free" options {
      [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: 2 } } })";
  std::unique_ptr<Pipeline> p = BuildOrFail(absl::StrCat(
      UNetText(encoder + cfg, R"(prompts: ["dark sandal", "bag"] negative_prompt: "light")", 16),
      " training { steps: 3 batch_size: 8 condition_dropout: 0.5 }"));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->text_conditioned());
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/text_unet";
  ASSERT_THAT(Train(*p, dir, nullptr), IsOk());

  GenerateRequest request;
  request.num = 4;
  absl::StatusOr<Generated> generated = Generate(*p, request);
  ASSERT_THAT(generated, IsOk());
  EXPECT_EQ(generated->samples.sizes(), at::IntArrayRef({4, 1, 28, 28}));
  EXPECT_TRUE(torch::isfinite(generated->samples).all().item<bool>());

  // One guided prediction against (1 + w) x0(prompt) - w x0(negative prompt).
  at::manual_seed(3);
  const at::Tensor x_t = torch::randn({2, 1, 28, 28});
  GuidanceInput in;
  in.predictor = p->predictor.get();
  in.forward = p->forward.get();
  in.x_t = x_t;
  in.t = Time(500.0);
  in.condition.latent = p->prompt_embeddings;
  in.condition.negative_latent = p->negative_prompt_embedding.expand({2, 16});
  at::NoGradGuard no_grad;
  const at::Tensor x0 = p->predictor->Predict(x_t, in.t, in.condition).x0;
  Condition negative;
  negative.latent = in.condition.negative_latent;
  const at::Tensor x0_neg = p->predictor->Predict(x_t, in.t, negative).x0;
  const at::Tensor guided = p->guidance[0]->Guide(in, {x0, at::Tensor()}).x0;
  EXPECT_TRUE(torch::allclose(guided, 3 * x0 - 2 * x0_neg, 1e-5, 1e-5));
  EXPECT_GT((x0 - x0_neg).abs().max().item<double>(), 0);  // the prompt matters

  // Without prompts there is nothing to condition on.
  std::unique_ptr<Pipeline> no_prompts = BuildOrFail(UNetText(encoder, "", 16));
  ASSERT_NE(no_prompts, nullptr);
  EXPECT_THAT(Generate(*no_prompts, request).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is conditioned on text (text_encoder 'trained_text_encoder'): "
                                 "set sampler.prompts (or --prompt)")));
}

// A U-Net reading the transformer's token states by cross-attention: trained from
// captions with the empty prompt as the null condition, sampled from prompts; padding
// never changes a prediction, and classifier-free guidance mixes in the negative (here the
// empty) prompt's prediction.
TEST(TextConditionedTest, CrossAttentionReadsTheTokenStates) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/transformer_text_image";
  {
    std::unique_ptr<Pipeline> clip = BuildOrFail(absl::StrReplaceAll(
        TextImageText(4, false),
        {{R"(name: "bag_of_words" options { [type.googleapis.com/diffuse.BagOfWordsOptions] {
      embedding_dim: 16 hidden_dim: 32 } })",
          R"(name: "transformer_text" options { [type.googleapis.com/diffuse.TransformerTextOptions] {
      embedding_dim: 16 width: 12 layers: 1 heads: 2 max_tokens: 8 vocabulary_size: 40 } })"}}));
    ASSERT_NE(clip, nullptr);
    ASSERT_THAT(Train(*clip, dir, nullptr), IsOk());
  }
  const std::string encoder = TrainedTextEncoder(CheckpointPath(dir));
  const std::string cfg = R"(guidance { name: "classifier_free" options {
      [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: 2 } } })";
  auto text = [&](const std::string& unet, const std::string& sections) {
    return absl::StrCat(absl::StrReplaceAll(UNetText(sections, R"(prompts: ["dark sandal", "bag"])"),
                                            {{"latent_dim: 0", unet}}),
                        " training { steps: 3 batch_size: 8 condition_dropout: 0.5 }");
  };
  std::unique_ptr<Pipeline> p =
      BuildOrFail(text("context_dim: 12 cross_attention_heads: 2 attention_resolutions: [14]",
                       encoder + cfg));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->text_conditioned());
  ASSERT_THAT(Train(*p, std::string(getenv("TEST_TMPDIR")) + "/cross_unet", nullptr), IsOk());
  GenerateRequest request;
  request.num = 4;
  absl::StatusOr<Generated> generated = Generate(*p, request);
  ASSERT_THAT(generated, IsOk());
  EXPECT_EQ(generated->samples.sizes(), at::IntArrayRef({4, 1, 28, 28}));
  EXPECT_TRUE(torch::isfinite(generated->samples).all().item<bool>());

  at::NoGradGuard no_grad;
  for (auto& w : p->trained_module()->parameters()) w.add_(0.05 * torch::randn_like(w));
  const TextEncoder::TokenStates& prompts = p->prompt_tokens;  // padded to "dark sandal"
  ASSERT_EQ(prompts.states.dim(), 3);
  EXPECT_EQ(prompts.states.size(2), 12);
  EXPECT_LT(prompts.mask[1].sum().item<int64_t>(), prompts.mask[0].sum().item<int64_t>());
  const at::Tensor x_t = torch::randn({2, 1, 28, 28});
  GuidanceInput in;
  in.predictor = p->predictor.get();
  in.forward = p->forward.get();
  in.x_t = x_t;
  in.t = Time(500.0);
  in.condition.context = prompts.states;
  in.condition.context_mask = prompts.mask;
  in.condition.negative_context = p->negative_prompt_tokens.states.expand({2, -1, -1});
  in.condition.negative_context_mask = p->negative_prompt_tokens.mask.expand({2, -1});
  const at::Tensor x0 = p->predictor->Predict(x_t, in.t, in.condition).x0;
  EXPECT_GT((x0[0] - x0[1]).abs().max().item<double>(), 0);  // the prompt matters
  // "bag" alone, unpadded, predicts what it predicts padded in the batch.
  absl::StatusOr<TextEncoder::TokenStates> bag = EmbedPromptTokens(*p->text_encoder, {"bag"}, "p");
  ASSERT_THAT(bag, IsOk());
  Condition alone;
  alone.context = bag->states;
  alone.context_mask = bag->mask;
  EXPECT_TRUE(torch::allclose(p->predictor->Predict(x_t.slice(0, 1), in.t, alone).x0[0], x0[1],
                              1e-5, 1e-6));
  Condition negative;
  negative.context = in.condition.negative_context;
  negative.context_mask = in.condition.negative_context_mask;
  const at::Tensor x0_neg = p->predictor->Predict(x_t, in.t, negative).x0;
  const at::Tensor guided = p->guidance[0]->Guide(in, {x0, at::Tensor()}).x0;
  EXPECT_TRUE(torch::allclose(guided, 3 * x0 - 2 * x0_neg, 1e-5, 1e-5));

  EXPECT_THAT(BuildFromText(text("context_dim: 16", encoder)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has token states of width 12 but predictor 'unet' takes "
                                 "context_dim = 16")));
  EXPECT_THAT(BuildFromText(text("context_dim: 16", TrainedTextEncoder(Trained(20, false)))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("has no per-token states (a transformer_text encoder has)")));
  EXPECT_THAT(BuildFromText(text("latent_dim: 0", encoder)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("predictor 'unet' reads no text: give it latent_dim = 16 (the "
                                 "pooled embedding) or context_dim = 12")));
}

// Caption word drops and condition dropout draw from the training generator: 3 + 3 steps
// resume to the 6-step weights bit for bit.
TEST(TextConditionedTest, ResumesExactly) {
  const std::string encoder = TrainedTextEncoder(Trained(20, false));
  auto text = [&](int steps) {
    return absl::StrCat(UNetText(encoder, "", 16), " training { steps: ", steps,
                        " batch_size: 8 condition_dropout: 0.3 checkpoint_every: 3 }");
  };
  const std::string tmp = getenv("TEST_TMPDIR");
  std::unique_ptr<Pipeline> straight = BuildOrFail(text(6));
  ASSERT_NE(straight, nullptr);
  ASSERT_THAT(Train(*straight, tmp + "/text_straight", nullptr), IsOk());
  std::unique_ptr<Pipeline> first = BuildOrFail(text(3));
  ASSERT_THAT(Train(*first, tmp + "/text_resumed", nullptr), IsOk());
  std::unique_ptr<Pipeline> second = BuildOrFail(text(6));
  ASSERT_THAT(Train(*second, tmp + "/text_resumed", nullptr), IsOk());
  const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                b = second->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

TEST(TextImageTest, RefusesWrongDescriptions) {
  const std::string checkpoint = Trained(20, false);
  auto refused = [](const std::string& text, absl::StatusCode code, const std::string& message) {
    EXPECT_THAT(BuildFromText(text), StatusIs(code, HasSubstr(message))) << text;
  };
  refused(absl::StrReplaceAll(TextImageText(5, false), {{"latent_dim: 16", "latent_dim: 8"}}),
          absl::StatusCode::kInvalidArgument,
          "encoder 'semantic_encoder' embeds images in width 8 but text_encoder 'bag_of_words' "
          "embeds text in width 16");
  refused(absl::StrReplaceAll(TextImageText(5, true), {{"time_input: true", ""}}),
          absl::StatusCode::kInvalidArgument,
          "with a forward process the image encoder sees x_t and must read t");
  refused(TextImageText(5, false, R"(reverse { name: "substitution" })"),
          absl::StatusCode::kInvalidArgument,
          "a description with a text encoder and no predictor trains a text-image model and "
          "has no 'reverse' section");
  refused(R"(data { name: "eight_gaussians" }
             encoder { name: "semantic_encoder" }
             text_encoder { name: "bag_of_words" })",
          absl::StatusCode::kInvalidArgument,
          "text_encoder 'bag_of_words': training reads the data's captions; data "
          "'eight_gaussians' has none");
  refused(absl::StrCat(R"(data { name: "fashion_mnist" }
             encoder { name: "semantic_encoder" options { [type.googleapis.com/diffuse.SemanticEncoderOptions] {
               latent_dim: 16 } } })", TrainedTextEncoder(checkpoint)),
          absl::StatusCode::kInvalidArgument,
          "text_encoder 'trained_text_encoder' has no network to train (it is loaded frozen)");
  // A text-conditioned predictor reads a trained, frozen text encoder of its width.
  refused(UNetText(R"(text_encoder { name: "bag_of_words" options {
             [type.googleapis.com/diffuse.BagOfWordsOptions] { embedding_dim: 16 } } })", "", 16),
          absl::StatusCode::kInvalidArgument, "reads a text encoder trained before");
  refused(UNetText(TrainedTextEncoder(checkpoint), "", 32), absl::StatusCode::kInvalidArgument,
          "embeds prompts in width 16 but predictor 'unet' takes latent_dim = 32");
  refused(UNetText(TrainedTextEncoder(checkpoint), R"(prompts: ["dark boat"])", 16),
          absl::StatusCode::kInvalidArgument,
          "sampler.prompts[0] 'dark boat': unknown word 'boat'; the vocabulary is: tshirt,");
  refused(UNetText("", R"(prompts: ["sandal"])"), absl::StatusCode::kInvalidArgument,
          "sampler.prompts: nothing in this pipeline reads prompts");
  refused(UNetText(ClipGuidance(checkpoint, 1), ""), absl::StatusCode::kInvalidArgument,
          "guidance[0] 'clip': steers toward sampler.prompts, which are unset");
  refused(UNetText(ClipGuidance(checkpoint + ".missing", 1), R"(prompts: ["sandal"])"),
          absl::StatusCode::kNotFound, "does not exist");
  // The noise-aware model read x_t of the cosine schedule.
  refused(absl::StrReplaceAll(UNetText(ClipGuidance(Trained(20, true), 1), R"(prompts: ["sandal"])"),
                              {{"schedule: COSINE", "schedule: LINEAR"}}),
          absl::StatusCode::kFailedPrecondition, "embeds x_t of another forward process");
  refused(UNetText(TrainedTextEncoder(checkpoint) + R"(guidance { name: "classifier_free" options {
             [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { negative_label: 3 } } })",
                   R"(prompts: ["sandal"] negative_prompt: "dark")", 16),
          absl::StatusCode::kInvalidArgument,
          "its negative condition is sampler.negative_prompt");
  // Classifier-free guidance away from the null embedding needs condition dropout (or a
  // negative prompt); a negative prompt needs a term that reads it.
  const std::string cfg = R"(guidance { name: "classifier_free" options {
      [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: 1 } } })";
  refused(UNetText(TrainedTextEncoder(checkpoint) + cfg, R"(prompts: ["sandal"])", 16),
          absl::StatusCode::kFailedPrecondition, "only training.condition_dropout > 0 trains");
  EXPECT_THAT(BuildFromText(UNetText(TrainedTextEncoder(checkpoint) + cfg,
                                     R"(prompts: ["sandal"] negative_prompt: "dark")", 16)),
              IsOk());
  refused(UNetText(TrainedTextEncoder(checkpoint), R"(prompts: ["sandal"] negative_prompt: "dark")", 16),
          absl::StatusCode::kInvalidArgument, "sampler.negative_prompt: nothing in this pipeline reads it");
  std::unique_ptr<Pipeline> single = BuildOrFail(
      absl::StrReplaceAll(TextImageText(5, false), {{"batch_size: 64", "batch_size: 1"}}));
  ASSERT_NE(single, nullptr);
  EXPECT_THAT(Train(*single, std::string(getenv("TEST_TMPDIR")) + "/single", nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.batch_size = 1: the contrastive loss")));
  std::unique_ptr<Pipeline> dropped = BuildOrFail(
      absl::StrReplaceAll(TextImageText(5, false), {{"caption_word_dropout: 0.3", "caption_word_dropout: 1.5"}}));
  ASSERT_NE(dropped, nullptr);
  EXPECT_THAT(Train(*dropped, std::string(getenv("TEST_TMPDIR")) + "/dropped", nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.caption_word_dropout = 1.5 must be in [0, 1]")));
}

}  // namespace
}  // namespace diffuse
