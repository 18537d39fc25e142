// Diffusion Autoencoders on Fashion-MNIST shapes: the encoder concept's builder checks,
// joint training of encoder and U-Net by the diffusion loss, and the encode / decode round
// trip through DDIM inversion.
#include "assembly/encode.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "data/fashion_mnist_files.h"
#include "gtest/gtest.h"
#include "models/gaussian_latent.h"
#include "assembly/train.h"
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
  at::NoGradGuard no_grad;
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
    at::NoGradGuard no_grad;
    at::manual_seed(5);
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
  at::NoGradGuard no_grad;
  at::manual_seed(5);
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

// The VAE family's Gaussian encoder: z = mu + sigma * eps_z, loss = diffusion + beta * KL.
std::string GaussianText(const std::string& kl_weight, int64_t steps = 40,
                         const std::string& prior_latent = "16") {
  return absl::StrReplaceAll(
      DiffAeText(),
      {{"groups: 4 latent_dim: 16 } } }", "groups: 4 latent_dim: 16 gaussian: true } } }"},
       {"prior { name: \"standard_normal\" }",
        absl::StrCat("prior { name: \"standard_normal\" options { "
                     "[type.googleapis.com/diffuse.StandardNormalPriorOptions] { latent_dim: ",
                     prior_latent, " } } }")},
       {"steps: 90", absl::StrCat("steps: ", steps)},
       {"log_every: 30", "log_every: 10"},
       {"seed: 1 }", absl::StrCat("seed: 1 latent_kl_weight: ", kl_weight, " }")}});
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(GaussianEncoderTest, TrainsWithTheKlTermResumesExactlyAndGeneratesFromThePrior) {
  const std::string tmp = getenv("TEST_TMPDIR");
  EXPECT_THAT(BuildFromText(GaussianText("0.001", 40, "12")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prior 'standard_normal' draws z of width 12 but predictor "
                                 "'unet' takes latent_dim = 16")));
  std::unique_ptr<Pipeline> zero = BuildOrFail(GaussianText("0"));
  ASSERT_NE(zero, nullptr);
  EXPECT_THAT(Train(*zero, tmp + "/gaussian_zero", nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.latent_kl_weight must be > 0: encoder "
                                 "'semantic_encoder' is Gaussian")));

  std::unique_ptr<Pipeline> straight = BuildOrFail(GaussianText("0.001"));
  ASSERT_NE(straight, nullptr);
  const LatentPosterior q = straight->encoder->Encode(TestImages(3), Time(0.0));
  ASSERT_TRUE(q.log_variance.defined());
  EXPECT_EQ(q.log_variance.sizes(), at::IntArrayRef({3, 16}));
  ASSERT_THAT(Train(*straight, tmp + "/gaussian", nullptr), IsOk());

  // Each logged row: loss = diffusion_loss + 0.001 * latent_kl, the KL positive.
  const std::vector<std::string> lines = Lines(tmp + "/gaussian/metrics.csv");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "step,loss,diffusion_loss,latent_kl,prior_kl,diffusion_reconstruction,denoising,steps_per_second,elapsed_seconds");
  // prior_kl, the ELBO's KL(q(x_T | x0) || N(0, I)), is logged but adds nothing to the loss
  // (no weight reaches it); at alpha(T) of this schedule it is tiny and positive. So are the
  // ELBO's diffusion reconstruction and denoising terms of the logging step's batch
  // (assembly/elbo.h): finite, the denoising KLs positive.
  const GaussianCoefficients& coefficients = *straight->forward->gaussian();
  const double t_max = straight->forward->time_domain().t_max();
  const double bound =
      DiffusionPriorKl(torch::ones({1, 1, 28, 28}), coefficients.Alpha(t_max), coefficients.Sigma(t_max)).item<double>();
  for (size_t i = 1; i < lines.size(); ++i) {
    double step, loss, diffusion, kl, prior_kl, reconstruction, denoising;
    ASSERT_EQ(std::sscanf(lines[i].c_str(), "%lf,%lf,%lf,%lf,%lf,%lf,%lf", &step, &loss, &diffusion,
                          &kl, &prior_kl, &reconstruction, &denoising), 7);
    EXPECT_TRUE(std::isfinite(reconstruction)) << lines[i];
    EXPECT_GT(denoising, 0) << lines[i];
    EXPECT_NEAR(loss, diffusion + 0.001 * kl, 2e-6) << lines[i];
    EXPECT_GT(kl, 0) << lines[i];
    EXPECT_GT(prior_kl, 0) << lines[i];
    EXPECT_LE(prior_kl, bound * (1 + 1e-4)) << lines[i];  // data in [-1, 1]
  }

  // 20 steps, stopped, then resumed to 40: the weights of the uninterrupted run (eps_z is
  // drawn from the checkpointed generator).
  std::unique_ptr<Pipeline> first = BuildOrFail(GaussianText("0.001", 20));
  ASSERT_THAT(Train(*first, tmp + "/gaussian_resumed", nullptr), IsOk());
  std::unique_ptr<Pipeline> second = BuildOrFail(GaussianText("0.001", 40));
  ASSERT_THAT(Train(*second, tmp + "/gaussian_resumed", nullptr), IsOk());
  const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                b = second->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;

  // Generation draws z ~ N(0, I) beside x_T: no latent model, no encoded images.
  GenerateRequest request;
  request.num = 3;
  absl::StatusOr<Generated> g = Generate(*straight, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->samples.sizes(), at::IntArrayRef({3, 1, 28, 28}));
  EXPECT_TRUE(torch::isfinite(g->samples).all().item<bool>());
}

// A metrics.csv written before columns existed (here prior_kl and the ELBO's terms) keeps its
// rows on resume, mapped by column name with "nan" for the new columns.
TEST(GaussianEncoderTest, ResumeMapsOlderMetricsColumnsByName) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/gaussian_old_metrics";
  std::unique_ptr<Pipeline> first = BuildOrFail(GaussianText("0.001", 20));
  ASSERT_NE(first, nullptr);
  ASSERT_THAT(Train(*first, dir, nullptr), IsOk());
  std::vector<std::string> lines = Lines(dir + "/metrics.csv");
  ASSERT_EQ(lines.size(), 3u);
  {
    std::ofstream old(dir + "/metrics.csv", std::ios::trunc);
    old << "step,loss,diffusion_loss,latent_kl,steps_per_second,elapsed_seconds\n";
    for (size_t i = 1; i < lines.size(); ++i) {
      std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
      fields.erase(fields.begin() + 4, fields.begin() + 7);  // prior_kl and the ELBO's terms
      old << absl::StrJoin(fields, ",") << "\n";
    }
  }
  std::unique_ptr<Pipeline> second = BuildOrFail(GaussianText("0.001", 40));
  ASSERT_THAT(Train(*second, dir, nullptr), IsOk());
  lines = Lines(dir + "/metrics.csv");
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0], "step,loss,diffusion_loss,latent_kl,prior_kl,diffusion_reconstruction,denoising,steps_per_second,elapsed_seconds");
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> fields = absl::StrSplit(lines[i], ',');
    ASSERT_EQ(fields.size(), 9u) << lines[i];
    EXPECT_EQ(fields[0], std::to_string(10 * i));
    for (int column : {4, 5, 6}) EXPECT_EQ(fields[column] == "nan", i <= 2) << lines[i];
  }
}

// LRDM: z_t = E(x0, t), a latent per diffusion time. The encoder reads t only with
// time_input; trained with the KL term, each example's z is encoded at its own t.
TEST(LrdmTest, TimeInputMakesTheLatentDependOnTAndTrains) {
  const std::string tmp = getenv("TEST_TMPDIR");
  const at::Tensor x = TestImages(3);
  std::unique_ptr<Pipeline> plain = BuildOrFail(GaussianText("0.001"));
  ASSERT_NE(plain, nullptr);
  EXPECT_FALSE(plain->encoder->takes_time());
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(plain->encoder->Encode(x, Time(100.0)).mean,
                             plain->encoder->Encode(x, Time(900.0)).mean));
  }
  const std::string text = absl::StrReplaceAll(
      GaussianText("0.001", 20), {{"gaussian: true", "gaussian: true time_input: true"}});
  std::unique_ptr<Pipeline> lrdm = BuildOrFail(text);
  ASSERT_NE(lrdm, nullptr);
  ASSERT_TRUE(lrdm->encoder->takes_time());
  absl::StatusOr<TrainingSummary> s = Train(*lrdm, tmp + "/lrdm", nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, s->first_loss);
  {
    // The time path starts at zero (AdaGN's identity) and is trained from there.
    at::NoGradGuard no_grad;
    const LatentPosterior early = lrdm->encoder->Encode(x, Time(100.0));
    const LatentPosterior late = lrdm->encoder->Encode(x, Time(900.0));
    EXPECT_GT((early.mean - late.mean).abs().max().item<double>(), 1e-4);
    // Per-sample times: sample i is encoded at its own t.
    const LatentPosterior mixed =
        lrdm->encoder->Encode(x, Time(torch::tensor({100.0, 900.0, 100.0}, torch::kFloat64)));
    EXPECT_TRUE(torch::allclose(mixed.mean[1], late.mean[1], 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(mixed.mean[2], early.mean[2], 1e-5, 1e-6));
    // `diffuse encode` gives z_t at one asked-for time, and only for an encoder that reads t.
    absl::StatusOr<Encoded> at_900 = EncodeImages(*lrdm, x, false, 900.0);
    ASSERT_THAT(at_900, IsOk());
    EXPECT_TRUE(torch::allclose(at_900->latent, late.mean, 1e-5, 1e-6));
    EXPECT_THAT(EncodeImages(*lrdm, x, false),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--encoder_time")));
    EXPECT_THAT(EncodeImages(*lrdm, x, true, 900.0),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("z_t per inversion step")));
    EXPECT_THAT(EncodeImages(*lrdm, x, false, 1000.5),
                StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("outside [0, 1000]")));
    EXPECT_THAT(EncodeImages(*plain, x, false, 900.0),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("does not read t")));
  }
  const std::vector<std::string> lines = Lines(tmp + "/lrdm/metrics.csv");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "step,loss,diffusion_loss,latent_kl,prior_kl,steps_per_second,elapsed_seconds");
  GenerateRequest request;
  request.num = 2;
  absl::StatusOr<Generated> g = Generate(*lrdm, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_TRUE(torch::isfinite(g->samples).all().item<bool>());

  // Generation with a z_t per step (the prior's latent_per_step): deterministic per seed,
  // not the one-z trajectory; refused with an encoder that ignores t.
  const auto per_step = [](const std::string& t) {
    return absl::StrReplaceAll(t, {{"latent_dim: 16 } } }\n    reverse", "latent_dim: 16 latent_per_step: true } } }\n    reverse"}});
  };
  ASSERT_NE(per_step(text), text);
  EXPECT_THAT(BuildFromText(per_step(GaussianText("0.001", 20))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prior 'standard_normal': option latent_per_step draws a z_t per "
                                 "time (LRDM), but encoder 'semantic_encoder' takes no time input")));
  std::unique_ptr<Pipeline> each_step = BuildOrFail(per_step(text));
  ASSERT_NE(each_step, nullptr);
  {
    at::NoGradGuard no_grad;  // the trained weights (the latent path starts at zero)
    const std::vector<at::Tensor> from = lrdm->trained_module()->parameters(),
                                  to = each_step->trained_module()->parameters();
    ASSERT_EQ(from.size(), to.size());
    for (size_t i = 0; i < from.size(); ++i) to[i].copy_(from[i]);
  }
  absl::StatusOr<Generated> a = Generate(*lrdm, request), b = Generate(*each_step, request),
                            c = Generate(*each_step, request);
  ASSERT_THAT(b, IsOk());
  EXPECT_TRUE(torch::equal(b->samples, c->samples));
  EXPECT_GT((a->samples - b->samples).abs().max().item<double>(), 1e-3);
}

// InfoDiffusion: loss = diffusion + (1 - zeta) KL + (zeta + lambda - 1) MMD^2, each term
// logged; zeta = 1 needs no Gaussian encoder.
TEST(InfoDiffusionTest, WeightsTheKlAndMmdTermsAndChecksItsCoefficients) {
  const std::string tmp = getenv("TEST_TMPDIR");
  auto info = [](const std::string& text, const std::string& options) {
    return absl::StrReplaceAll(
        text, {{"latent_kl_weight: 0.001 }", absl::StrCat("info_diffusion { ", options, " } }")}});
  };
  const std::string deterministic = absl::StrReplaceAll(
      info(GaussianText("0.001", 20), "mutual_information_weight: 1 prior_weight: 1"),
      {{" gaussian: true", ""}});
  std::unique_ptr<Pipeline> p = BuildOrFail(deterministic);
  ASSERT_NE(p, nullptr);
  ASSERT_THAT(Train(*p, tmp + "/info_deterministic", nullptr), IsOk());
  std::vector<std::string> lines = Lines(tmp + "/info_deterministic/metrics.csv");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "step,loss,diffusion_loss,latent_mmd,prior_kl,diffusion_reconstruction,denoising,"
            "steps_per_second,elapsed_seconds");
  for (size_t i = 1; i < lines.size(); ++i) {
    double step, loss, diffusion, mmd;
    ASSERT_EQ(std::sscanf(lines[i].c_str(), "%lf,%lf,%lf,%lf", &step, &loss, &diffusion, &mmd), 4);
    EXPECT_NEAR(loss, diffusion + mmd, 2e-6) << lines[i];
  }

  std::unique_ptr<Pipeline> g = BuildOrFail(info(
      GaussianText("0.001", 20), "mutual_information_weight: 0.5 prior_weight: 1.5 kernel: RBF"));
  ASSERT_NE(g, nullptr);
  ASSERT_THAT(Train(*g, tmp + "/info_gaussian", nullptr), IsOk());
  lines = Lines(tmp + "/info_gaussian/metrics.csv");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0],
            "step,loss,diffusion_loss,latent_kl,latent_mmd,prior_kl,diffusion_reconstruction,"
            "denoising,steps_per_second,elapsed_seconds");
  for (size_t i = 1; i < lines.size(); ++i) {
    double step, loss, diffusion, kl, mmd;
    ASSERT_EQ(std::sscanf(lines[i].c_str(), "%lf,%lf,%lf,%lf,%lf", &step, &loss, &diffusion,
                          &kl, &mmd), 5);
    EXPECT_NEAR(loss, diffusion + 0.5 * kl + 1.0 * mmd, 3e-6) << lines[i];
  }

  auto refused = [&](const std::string& text, const std::string& message) {
    std::unique_ptr<Pipeline> bad = BuildOrFail(text);
    ASSERT_NE(bad, nullptr);
    EXPECT_THAT(Train(*bad, tmp + "/info_refused", nullptr),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)));
  };
  refused(absl::StrReplaceAll(deterministic, {{"mutual_information_weight: 1", "mutual_information_weight: 0.5"}}),
          "mutual_information_weight = 0.5 < 1 keeps a KL term, which needs a Gaussian encoder");
  refused(absl::StrReplaceAll(deterministic, {{"prior_weight: 1", "prior_weight: 0"}}),
          "info_diffusion.prior_weight = 0 must be in [0, 1e6] with mutual_information_weight "
          "+ prior_weight - 1 > 0");
  refused(absl::StrReplaceAll(deterministic, {{"seed: 1 info", "seed: 1 latent_kl_weight: 0.1 info"}}),
          "latent_kl_weight and info_diffusion both weight the KL term; set one");
}

// Exact resume with each latent objective: LRDM (z_t = E(x0, t) with its KL) and
// InfoDiffusion (MMD alone, and KL + MMD with the RBF kernel): 10 steps, stopped, resumed to
// 20 give the weights of 20 uninterrupted steps.
TEST(LatentObjectivesTest, EachResumesExactly) {
  const std::string tmp = getenv("TEST_TMPDIR");
  auto lrdm = [](int64_t steps) {
    return absl::StrReplaceAll(GaussianText("0.001", steps),
                               {{"gaussian: true", "gaussian: true time_input: true"}});
  };
  auto info = [](const std::string& options, bool gaussian) {
    return [options, gaussian](int64_t steps) {
      std::string text = absl::StrReplaceAll(
          GaussianText("0.001", steps),
          {{"latent_kl_weight: 0.001 }", absl::StrCat("info_diffusion { ", options, " } }")}});
      return gaussian ? text : absl::StrReplaceAll(text, {{" gaussian: true", ""}});
    };
  };
  const std::vector<std::pair<std::string, std::function<std::string(int64_t)>>> objectives = {
      {"lrdm", lrdm},
      {"info_mmd", info("mutual_information_weight: 1 prior_weight: 1", false)},
      {"info_kl_rbf", info("mutual_information_weight: 0.5 prior_weight: 1.5 kernel: RBF", true)}};
  for (const auto& [name, text] : objectives) {
    SCOPED_TRACE(name);
    std::unique_ptr<Pipeline> straight = BuildOrFail(text(20));
    ASSERT_NE(straight, nullptr);
    ASSERT_THAT(Train(*straight, absl::StrCat(tmp, "/", name, "_straight"), nullptr), IsOk());
    const std::string resumed_dir = absl::StrCat(tmp, "/", name, "_resumed");
    std::unique_ptr<Pipeline> first = BuildOrFail(text(10));
    ASSERT_THAT(Train(*first, resumed_dir, nullptr), IsOk());
    std::unique_ptr<Pipeline> second = BuildOrFail(text(20));
    ASSERT_THAT(Train(*second, resumed_dir, nullptr), IsOk());
    const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                  b = second->trained_module()->parameters();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
    // The run moved the weights: equal weights are not the untrained ones.
    std::unique_ptr<Pipeline> untrained = BuildOrFail(text(20));
    EXPECT_FALSE(torch::equal(a[0], untrained->trained_module()->parameters()[0]));
  }
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
