// The VAE of the VAE family: an autoencoder description (data, Gaussian encoder,
// conv_decoder) checked by the builder, trained by the ELBO with every term logged and
// resumed exactly, sampled from z ~ N(0, I); ES-DDPM's start drawn from it through prior
// "diffused_estimate" with estimate VAE; DiffuseVAE trained on its reconstructions, as an
// image condition (form 1) and as the centre of the shifted forward (form 2).
#include <cmath>
#include <cstdio>
#include <fstream>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "assembly/encode.h"
#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "assembly/trained_loader.h"
#include "gtest/gtest.h"
#include "models/gaussian_latent.h"
#include "models/latent_ddim_prior.h"
#include "random/noise_source.h"
#include "assembly/train.h"
#include "util/atomic_file.h"
#include "util/npy.h"
#include "util/status_macros.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Tmp(const std::string& name) { return absl::StrCat(getenv("TEST_TMPDIR"), "/", name); }

// 64 RGB images of 9 x 9 (odd on purpose: the decoder crops its upsampling), smooth
// gradients with a random phase each, in [-1, 1].
std::string TestImagesFile() {
  const std::string path = Tmp("images.npy");
  at::Generator gen = at::detail::createCPUGenerator(3);
  const at::Tensor phase = torch::rand({64, 3, 1, 1}, gen, torch::kFloat64) * 6.28;
  const at::Tensor ramp = torch::linspace(0, 3, 9, torch::kFloat64);
  const at::Tensor images = torch::sin(phase + ramp.view({1, 1, 9, 1}) + ramp.view({1, 1, 1, 9}) / 2);
  NpyArray array;
  array.shape = {64, 3, 9, 9};
  const at::Tensor flat = images.contiguous().flatten();
  array.data.assign(flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel());
  EXPECT_THAT(WriteNpy(path, array), IsOk());
  return path;
}

// extra_sections: whole sections to add; sampler / training: fields to add to those.
std::string VaeText(int steps = 40, const std::string& decoder_width = "6",
                    const std::string& extra_sections = "", const std::string& sampler = "",
                    const std::string& training = "") {
  static const std::string* images = new std::string(TestImagesFile());
  return absl::StrCat(R"(
    data { name: "tensor_file" options { [type.googleapis.com/diffuse.TensorFileOptions] {
      path: ")", *images, R"(" } } }
    encoder { name: "semantic_encoder" options {
      [type.googleapis.com/diffuse.SemanticEncoderOptions] {
        base_channels: 8 channel_mult: [1, 2] groups: 4 latent_dim: 6 gaussian: true } } }
    decoder { name: "conv_decoder" options { [type.googleapis.com/diffuse.ConvDecoderOptions] {
      base_channels: 8 channel_mult: [1, 2] groups: 4 latent_dim: )", decoder_width, R"( } } }
    sampler { batch_size: 4 seed: 5 )", sampler, R"( }
    training { steps: )", steps, R"( batch_size: 16 learning_rate: 0.003 log_every: 10
               checkpoint_every: 10 seed: 2 latent_kl_weight: 1 )", training, R"( }
  )", extra_sections);
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(AutoencoderTest, BuilderChecksTheDescription) {
  std::unique_ptr<Pipeline> p = BuildOrFail(VaeText());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->kind, DescriptionKind::kAutoencoder);
  EXPECT_EQ(p->forward, nullptr);
  // The decoder's output is the data's shape, 9 x 9 included.
  EXPECT_EQ(p->decoder->Decode(torch::zeros({2, 6})).mean.sizes(), at::IntArrayRef({2, 3, 9, 9}));

  EXPECT_THAT(BuildFromText(VaeText(40, "5")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("decoder 'conv_decoder' reads z of width 5 but encoder "
                                 "'semantic_encoder' produces z of width 6")));
  EXPECT_THAT(BuildFromText(VaeText(40, "6", R"(forward { name: "gaussian_vp" })")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("decoder 'conv_decoder': a description with a decoder is an "
                                 "autoencoder and has no 'forward' section")));
  std::string no_encoder = VaeText();
  no_encoder.erase(no_encoder.find("encoder {"),
                   no_encoder.find("decoder {") - no_encoder.find("encoder {"));
  EXPECT_THAT(BuildFromText(no_encoder),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("an autoencoder needs an encoder section")));
  EXPECT_THAT(BuildFromText(VaeText(40, "6", "", "labels: 1")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.labels")));
  EXPECT_THAT(BuildFromText(R"(
    data { name: "eight_gaussians" }
    encoder { name: "semantic_encoder" }
    decoder { name: "conv_decoder" })"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("needs real-valued image data [C, H, W]")));
  std::string deterministic = VaeText();
  deterministic.replace(deterministic.find(" gaussian: true"), 15, "");
  EXPECT_THAT(BuildFromText(deterministic),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encoder 'semantic_encoder' is deterministic: an autoencoder "
                                 "samples by decoding z ~ N(0, I)")));
  std::string timed = VaeText();
  timed.replace(timed.find("gaussian: true"), 14, "gaussian: true time_input: true");
  EXPECT_THAT(BuildFromText(timed),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("encoder 'semantic_encoder': option time_input (LRDM's z_t = "
                                 "E(x0, t)) needs a forward process")));
  std::unique_ptr<Pipeline> min_snr = BuildOrFail(VaeText(40, "6", "", "", "loss_weighting: MIN_SNR"));
  ASSERT_NE(min_snr, nullptr);
  EXPECT_THAT(Train(*min_snr, Tmp("min_snr"), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("training.loss_weighting MIN_SNR weights a diffusion loss")));
}

TEST(AutoencoderTest, TrainsByTheElboLogsEachTermAndResumesExactly) {
  std::unique_ptr<Pipeline> straight = BuildOrFail(VaeText(40));
  ASSERT_NE(straight, nullptr);
  absl::StatusOr<TrainingSummary> s = Train(*straight, Tmp("vae"), nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, s->first_loss);

  // Each logged row: loss = reconstruction NLL + 1 * KL, the KL positive, the MSE falling.
  const std::vector<std::string> lines = Lines(Tmp("vae/metrics.csv"));
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_EQ(lines[0],
            "step,loss,reconstruction_nll,reconstruction_mse,latent_kl,steps_per_second,"
            "elapsed_seconds");
  std::vector<double> mses;
  for (size_t i = 1; i < lines.size(); ++i) {
    double step, loss, nll, mse, kl;
    ASSERT_EQ(std::sscanf(lines[i].c_str(), "%lf,%lf,%lf,%lf,%lf", &step, &loss, &nll, &mse, &kl), 5);
    EXPECT_NEAR(loss, nll + kl, 1e-3) << lines[i];
    EXPECT_GT(kl, 0) << lines[i];
    mses.push_back(mse);
  }
  EXPECT_LT(mses.back(), mses.front());
  // The observation std is learned (sigma-VAE): it left its initial 0.1.
  const at::Tensor log_std = straight->decoder->Decode(torch::zeros({1, 6})).log_std;
  EXPECT_GT(std::abs(log_std.item<double>() - std::log(0.1)), 1e-3);

  // 20 steps, stopped, then resumed to 40: the weights of the uninterrupted run.
  std::unique_ptr<Pipeline> first = BuildOrFail(VaeText(20));
  ASSERT_THAT(Train(*first, Tmp("vae_resumed"), nullptr), IsOk());
  std::unique_ptr<Pipeline> second = BuildOrFail(VaeText(40));
  ASSERT_THAT(Train(*second, Tmp("vae_resumed"), nullptr), IsOk());
  const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                b = second->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;

  // The checkpoint loads for sampling into a fresh pipeline.
  std::unique_ptr<Pipeline> loaded = BuildOrFail(VaeText(40));
  ASSERT_THAT(LoadWeightsForSampling(*loaded, Tmp("vae/checkpoint.pt")), IsOk());
  const std::vector<at::Tensor> c = loaded->trained_module()->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], c[i])) << i;
}

TEST(AutoencoderTest, SamplesDecodeZFromEachSamplesOwnStream) {
  std::unique_ptr<Pipeline> p = BuildOrFail(VaeText());
  ASSERT_NE(p, nullptr);
  GenerateRequest request;
  request.num = 6;
  request.seed = 9;
  absl::StatusOr<Generated> g = Generate(*p, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->samples.sizes(), at::IntArrayRef({6, 3, 9, 9}));
  EXPECT_FALSE(g->labels.defined());
  // Sample i is the decoded mean of z from stream (seed, i), whatever the chunk size (4).
  PhiloxNoise noise(9, 0);
  const at::Tensor z = noise.Normal({6, 6});
  at::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(g->samples, p->decoder->Decode(z).mean, 1e-5, 1e-6));
  // Given latents are decoded as they are.
  request.latent = torch::zeros({6, 6});
  absl::StatusOr<Generated> given = Generate(*p, request);
  ASSERT_THAT(given, IsOk());
  EXPECT_TRUE(torch::allclose(given->samples, p->decoder->Decode(request.latent).mean));
  request.latent = torch::zeros({6, 5});
  EXPECT_THAT(Generate(*p, request), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("wants z of shape [6, 6], got [6, 5]")));
  request.latent = at::Tensor();
  request.record_trajectory = true;
  EXPECT_THAT(Generate(*p, request),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("decodes z in one step")));
}

std::string EsDdpmText(const std::string& vae_options);

// Latent diffusion: prior "latent_ddim" over the autoencoder's codes, a small MLP model
// (or the given predictor section).
std::string LatentDiffusionPrior(const std::string& dir, const std::string& predictor = R"(
        predictor { name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
          hidden: 32 blocks: 2 } } })") {
  return absl::StrCat(R"(
    prior { name: "latent_ddim" options { [type.googleapis.com/diffuse.LatentDdimPriorOptions] {
      dir: ")", dir, R"(" pipeline {
        forward { name: "gaussian_vp" })", predictor, R"(
        prior { name: "standard_normal" }
        reverse { name: "substitution" }
        sampler { num_steps: 10 batch_size: 4 }
        training { steps: 60 batch_size: 32 log_every: 20 checkpoint_every: 60 seed: 4 } } } } }
  )");
}

// Latent diffusion's stage 2: the prior's model of the codes in its dir, built and trained.
absl::StatusOr<std::unique_ptr<Pipeline>> TrainLatentModel(const Pipeline& p) {
  LatentDdimPriorOptions options;
  if (!p.config.prior().options().UnpackTo(&options)) {
    return absl::InternalError("prior options are not LatentDdimPriorOptions");
  }
  ABSL_ASSIGN_OR_RETURN(const PipelineConfig config, LatentModelDescription(options));
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> model, BuildPipeline(config));
  ABSL_RETURN_IF_ERROR(Train(*model, options.dir(), nullptr).status());
  return model;
}

// Six samples at seed 9 (the sampler's chunks of 4 and 2) must be the decoded z the prior
// draws on each sample's own stream (seed 9, index i); returns the samples and that z.
struct SixSamples {
  at::Tensor samples, z;
};
SixSamples ExpectSixSamplesDecodeTheirStreams(Pipeline& p) {
  GenerateRequest request;
  request.num = 6;
  request.seed = 9;
  absl::StatusOr<Generated> g = Generate(p, request);
  EXPECT_THAT(g, IsOk());
  if (!g.ok()) return {};
  EXPECT_EQ(g->samples.sizes(), at::IntArrayRef({6, 3, 9, 9}));
  PhiloxNoise first(9, 0), rest(9, 4);
  const at::Tensor z = torch::cat({p.prior->Sample(4, {3, 9, 9}, first).condition.latent,
                                   p.prior->Sample(2, {3, 9, 9}, rest).condition.latent});
  at::NoGradGuard no_grad;
  EXPECT_TRUE(torch::allclose(g->samples, p.decoder->Decode(z).mean, 1e-5, 1e-6));
  return {g->samples, z};
}

TEST(AutoencoderTest, LatentDiffusionDecodesZFromTheModelOfTheCodes) {
  EXPECT_THAT(BuildFromText(VaeText(40, "6", R"(prior { name: "standard_normal" })")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prior 'standard_normal': an autoencoder's prior is a model of "
                                 "its z (width 6, one per image, e.g. \"latent_ddim\"); this one "
                                 "supplies no z")));
  EXPECT_THAT(BuildFromText(VaeText(40, "6", R"(prior { name: "forward_terminal" })")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("draws x_T from the forward process; this description has none")));
  const std::string dir = Tmp("latent_diffusion_z");
  std::unique_ptr<Pipeline> p = BuildOrFail(VaeText(40, "6", LatentDiffusionPrior(dir)));
  ASSERT_NE(p, nullptr);
  ASSERT_NE(p->prior, nullptr);
  EXPECT_EQ(p->prior->latent_dim(), 6);
  // Stage 1, the autoencoder; sampling before stage 2 names it.
  ASSERT_THAT(Train(*p, Tmp("latent_diffusion_vae"), nullptr), IsOk());
  GenerateRequest request;
  request.num = 6;
  request.seed = 9;
  absl::StatusOr<Generated> early = Generate(*p, request);
  ASSERT_FALSE(early.ok());
  EXPECT_THAT(early.status().message(), HasSubstr("train-latent-prior"));
  // Stage 2: the training images' codes, normalized, and a diffusion model of them.
  absl::StatusOr<NpyArray> images = ReadNpy(TestImagesFile());
  ASSERT_THAT(images, IsOk());
  const at::Tensor x = torch::tensor(images->data, torch::kFloat64).view({64, 3, 9, 9}).to(torch::kFloat32);
  absl::StatusOr<Encoded> codes = EncodeImages(*p, x, /*with_x_T=*/false);
  ASSERT_THAT(codes, IsOk());
  ASSERT_THAT(WriteNormalizedLatents(codes->latent, {6}, dir), IsOk());
  absl::StatusOr<NpyArray> stats = ReadNpy(LatentStatsPath(dir));
  ASSERT_THAT(stats, IsOk());
  const at::Tensor mean_std = torch::tensor(stats->data, torch::kFloat64).view({2, 6});
  EXPECT_TRUE(torch::allclose(mean_std[0], codes->latent.to(torch::kFloat64).mean(0), 1e-5, 1e-6));
  ASSERT_THAT(TrainLatentModel(*p), IsOk());

  // Sample i decodes the z the prior draws on stream (seed, i), in chunks of 4.
  const SixSamples six = ExpectSixSamplesDecodeTheirStreams(*p);
  ASSERT_TRUE(six.z.defined());
  at::NoGradGuard no_grad;
  // The codes' model maps back to the codes' scale: z = mean + std * (model's sample).
  EXPECT_GT((six.z - mean_std[0].to(torch::kFloat32)).abs().max().item<double>(), 0);
  // The prior section does not bind the weights: the VAE alone (z ~ N(0, I)) loads the same
  // checkpoint and draws other samples.
  std::unique_ptr<Pipeline> alone = BuildOrFail(VaeText(40));
  ASSERT_NE(alone, nullptr);
  ASSERT_THAT(LoadWeightsForSampling(*alone, Tmp("latent_diffusion_vae/checkpoint.pt")), IsOk());
  absl::StatusOr<Generated> plain = Generate(*alone, request);
  ASSERT_THAT(plain, IsOk());
  EXPECT_FALSE(torch::allclose(plain->samples, six.samples, 1e-3, 1e-3));
  // Given latents bypass the prior.
  request.latent = torch::zeros({6, 6});
  absl::StatusOr<Generated> given = Generate(*p, request);
  ASSERT_THAT(given, IsOk());
  EXPECT_TRUE(torch::allclose(given->samples, p->decoder->Decode(request.latent).mean));

  // ES-DDPM / DiffuseVAE with this VAE start from the decoded z of its model of the codes.
  const std::string vae_file = Tmp("latent_diffusion.pbtxt");
  ASSERT_THAT(WriteFileAtomically(vae_file, VaeText(40, "6", LatentDiffusionPrior(dir))), IsOk());
  std::unique_ptr<Pipeline> es = BuildOrFail(EsDdpmText(absl::StrCat(
      "vae_pipeline: \"", vae_file, "\" vae_checkpoint: \"",
      Tmp("latent_diffusion_vae/checkpoint.pt"), "\"")));
  ASSERT_NE(es, nullptr);
  ASSERT_THAT(es->prior->PrepareForSampling(), IsOk());
  PhiloxNoise stream(4, 0), replay(4, 0);
  const PriorSample start = es->prior->Sample(3, {3, 9, 9}, stream);
  const at::Tensor z_start = p->prior->Sample(3, {3, 9, 9}, replay).condition.latent;
  EXPECT_TRUE(torch::allclose(start.condition.image, p->decoder->Decode(z_start).mean, 1e-5, 1e-6));
  // Before its second stage such a VAE still serves DiffuseVAE's training images (encoder and
  // decoder); only drawing a start names the missing model of z.
  const std::string untrained_file = Tmp("latent_diffusion_untrained.pbtxt");
  ASSERT_THAT(WriteFileAtomically(untrained_file,
                                  VaeText(40, "6", LatentDiffusionPrior(Tmp("nowhere_z")))),
              IsOk());
  std::unique_ptr<Pipeline> early_es = BuildOrFail(EsDdpmText(absl::StrCat(
      "vae_pipeline: \"", untrained_file, "\" vae_checkpoint: \"",
      Tmp("latent_diffusion_vae/checkpoint.pt"), "\"")));
  ASSERT_NE(early_es, nullptr);
  ASSERT_THAT(early_es->prior->PrepareForSampling(), IsOk());
  EXPECT_EQ(early_es->prior->TrainingImage(x.slice(0, 0, 2)).sizes(), at::IntArrayRef({2, 3, 9, 9}));
  PhiloxNoise again(4, 0);
  try {
    early_es->prior->Sample(2, {3, 9, 9}, again);
    ADD_FAILURE() << "drew a start without the VAE's model of z";
  } catch (const c10::Error& e) {
    EXPECT_THAT(e.what_without_backtrace(),
                AllOf(HasSubstr("option vae_pipeline: "), HasSubstr("prior 'latent_ddim': option dir: "),
                      HasSubstr("train-latent-prior")));
  }
}

// Latent diffusion's autoencoder with a spatial code: z is [2, 5, 5], the lowest level of
// 9 x 9 images after two levels, flattened to 50 numbers for the ELBO; its model of the
// codes is a U-Net over 2 x 5 x 5 "images".
std::string SpatialVaeText(const std::string& decoder_options, const std::string& extra = "") {
  return absl::StrReplaceAll(
      VaeText(40, "6", extra),
      {{"latent_dim: 6 gaussian", "latent_channels: 2 gaussian"},
       {"groups: 4 latent_dim: 6 }", absl::StrCat("groups: 4 ", decoder_options, " }")}});
}

TEST(AutoencoderTest, SpatialCodeIsModelledAsAnImage) {
  EXPECT_THAT(BuildFromText(SpatialVaeText("latent_channels: 3")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("decoder 'conv_decoder' reads z of shape [3, 5, 5] but encoder "
                                 "'semantic_encoder' produces z of shape [2, 5, 5]")));
  EXPECT_THAT(BuildFromText(SpatialVaeText("latent_dim: 50")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("decoder 'conv_decoder' reads z of width 50 but encoder "
                                 "'semantic_encoder' produces z of shape [2, 5, 5] (a spatial "
                                 "code: give both the same latent_channels")));
  EXPECT_THAT(BuildFromText(SpatialVaeText("latent_channels: 2 latent_dim: 50")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("decoder 'conv_decoder': options latent_dim and latent_channels: set one")));
  EXPECT_THAT(BuildFromText(absl::StrReplaceAll(SpatialVaeText("latent_channels: 2"),
                                                {{"latent_channels: 2 gaussian",
                                                  "latent_channels: 2 latent_dim: 50 gaussian"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("encoder 'semantic_encoder': options latent_dim and latent_channels: set one")));
  // A predictor takes a vector z: a spatial code outside an autoencoder is refused.
  EXPECT_THAT(BuildFromText(absl::StrCat(R"(
    data { name: "tensor_file" options { [type.googleapis.com/diffuse.TensorFileOptions] {
      path: ")", TestImagesFile(), R"(" } } }
    forward { name: "gaussian_vp" }
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      base_channels: 8 channel_mult: [1] attention_resolutions: [] groups: 4 latent_dim: 50 } } }
    encoder { name: "semantic_encoder" options { [type.googleapis.com/diffuse.SemanticEncoderOptions] {
      base_channels: 8 channel_mult: [1, 2] groups: 4 latent_channels: 2 } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
  )")),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("encoder 'semantic_encoder': option latent_channels: a spatial "
                                 "code is an autoencoder's")));
  const std::string dir = Tmp("spatial_z");
  const std::string unet = R"(
        predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
          base_channels: 8 channel_mult: [1] attention_resolutions: [5] groups: 4 } } })";
  std::unique_ptr<Pipeline> p =
      BuildOrFail(SpatialVaeText("latent_channels: 2", LatentDiffusionPrior(dir, unet)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->encoder->latent_shape(), (std::vector<int64_t>{2, 5, 5}));
  EXPECT_EQ(p->decoder->latent_dim(), 50);
  EXPECT_EQ(p->prior->latent_dim(), 50);
  absl::StatusOr<NpyArray> images = ReadNpy(TestImagesFile());
  ASSERT_THAT(images, IsOk());
  const at::Tensor x = torch::tensor(images->data, torch::kFloat64).view({64, 3, 9, 9}).to(torch::kFloat32);
  EXPECT_EQ(p->prior->latent_shape(), (std::vector<int64_t>{2, 5, 5}));
  {
    // q(z | x0) per element of the map: the mean is the output's first 2 channels,
    // flattened, the log-variance the next 2: moving one channel's bias moves only its 25
    // numbers.
    at::NoGradGuard no_grad;
    const at::Tensor x3 = x.slice(0, 0, 3);
    const LatentPosterior q = p->encoder->Encode(x3, Time(0.0));
    EXPECT_EQ(q.mean.sizes(), at::IntArrayRef({3, 50}));
    EXPECT_EQ(q.log_variance.sizes(), at::IntArrayRef({3, 50}));
    EXPECT_EQ(p->decoder->Decode(q.mean).mean.sizes(), at::IntArrayRef({3, 3, 9, 9}));
    at::Tensor bias = p->encoder->module().named_parameters()["out_conv.bias"];
    ASSERT_EQ(bias.numel(), 4);
    for (int64_t c = 0; c < 4; ++c) {
      const at::Tensor saved = bias.clone();
      bias[c].add_(1.0);
      const LatentPosterior moved = p->encoder->Encode(x3, Time(0.0));
      bias.copy_(saved);
      at::Tensor changed = c < 2 ? moved.mean - q.mean : moved.log_variance - q.log_variance;
      const at::Tensor other = c < 2 ? moved.log_variance - q.log_variance : moved.mean - q.mean;
      const int64_t k = c % 2;
      EXPECT_TRUE(torch::allclose(changed.slice(1, 25 * k, 25 * (k + 1)), torch::ones({3, 25}),
                                  1e-4, 1e-4)) << c;
      changed.slice(1, 25 * k, 25 * (k + 1)).zero_();
      EXPECT_EQ(changed.abs().max().item<double>(), 0) << c;
      EXPECT_EQ(other.abs().max().item<double>(), 0) << c;
    }
  }
  // Stage 1 by the ELBO over the flattened code; the reconstruction improves.
  absl::StatusOr<TrainingSummary> s = Train(*p, Tmp("spatial_vae"), nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, s->first_loss);
  // Stage 2: the codes written as [N, 2, 5, 5], normalized per element.
  absl::StatusOr<Encoded> codes = EncodeImages(*p, x, /*with_x_T=*/false);
  ASSERT_THAT(codes, IsOk());
  EXPECT_THAT(WriteNormalizedLatents(codes->latent, {2, 5, 4}, dir),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("codes of shape [64, 50] are not [N, D] with D the elements of "
                                 "latent shape [2, 5, 4]")));
  ASSERT_THAT(WriteNormalizedLatents(codes->latent, {2, 5, 5}, dir), IsOk());
  absl::StatusOr<NpyArray> latents = ReadNpy(LatentsPath(dir));
  ASSERT_THAT(latents, IsOk());
  EXPECT_EQ(latents->shape, (std::vector<int64_t>{64, 2, 5, 5}));
  const at::Tensor z64 = codes->latent.to(torch::kFloat64);
  const at::Tensor normalized = (z64 - z64.mean(0)) / z64.std(0);
  EXPECT_TRUE(torch::allclose(torch::tensor(latents->data, torch::kFloat64).view({64, 50}),
                              normalized, 1e-4, 1e-5));
  absl::StatusOr<std::unique_ptr<Pipeline>> model = TrainLatentModel(*p);
  ASSERT_THAT(model, IsOk());
  EXPECT_EQ((*model)->data->sample_shape(), (std::vector<int64_t>{2, 5, 5}));
  // Sample i decodes the flattened map the U-Net draws on stream (seed, i).
  const SixSamples six = ExpectSixSamplesDecodeTheirStreams(*p);
  ASSERT_TRUE(six.z.defined());
  EXPECT_EQ(six.z.sizes(), at::IntArrayRef({6, 50}));
}

std::string EsDdpmText(const std::string& vae_options) {
  static const std::string* images = new std::string(TestImagesFile());
  return absl::StrCat(R"(
    data { name: "tensor_file" options { [type.googleapis.com/diffuse.TensorFileOptions] {
      path: ")", *images, R"(" } } }
    forward { name: "truncated" options { [type.googleapis.com/diffuse.TruncatedOptions] {
      inner { name: "gaussian_vp" } num_steps: 600 } } }
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      base_channels: 8 channel_mult: [1] attention_resolutions: [] groups: 4 } } }
    prior { name: "diffused_estimate" options {
      [type.googleapis.com/diffuse.DiffusedEstimatePriorOptions] {
        estimate: VAE estimate_as_condition: true )", vae_options, R"( } } }
    reverse { name: "substitution" }
    sampler { num_steps: 5 }
  )");
}

TEST(AutoencoderTest, EsDdpmStartsFromTheVaesSampleDiffusedToTPrime) {
  EXPECT_THAT(BuildFromText(EsDdpmText("")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("option estimate VAE needs option vae_pipeline")));
  // The autoencoder's description and a trained checkpoint of it.
  const std::string vae_file = Tmp("es_vae.pbtxt");
  ASSERT_THAT(WriteFileAtomically(vae_file, VaeText(10)), IsOk());
  std::unique_ptr<Pipeline> vae = BuildOrFail(VaeText(10));
  ASSERT_THAT(Train(*vae, Tmp("es_vae"), nullptr), IsOk());

  std::unique_ptr<Pipeline> missing = BuildOrFail(EsDdpmText(absl::StrCat(
      "vae_pipeline: \"", Tmp("nowhere.pbtxt"), "\" vae_checkpoint: \"", Tmp("es_vae/checkpoint.pt"), "\"")));
  ASSERT_NE(missing, nullptr);
  const absl::Status no_file = missing->prior->PrepareForSampling();
  EXPECT_FALSE(no_file.ok());
  EXPECT_THAT(std::string(no_file.message()), HasSubstr("option vae_pipeline: "));
  EXPECT_THAT(std::string(no_file.message()), HasSubstr("nowhere.pbtxt"));
  std::unique_ptr<Pipeline> not_vae = BuildOrFail(EsDdpmText(absl::StrCat(
      "vae_pipeline: \"", Tmp("es_ddpm.pbtxt"), "\" vae_checkpoint: \"", Tmp("es_vae/checkpoint.pt"), "\"")));
  ASSERT_THAT(WriteFileAtomically(Tmp("es_ddpm.pbtxt"), EsDdpmText("vae_pipeline: \"x\" vae_checkpoint: \"y\"")), IsOk());
  EXPECT_THAT(not_vae->prior->PrepareForSampling(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not an autoencoder description")));
  std::unique_ptr<Pipeline> no_weights = BuildOrFail(EsDdpmText(absl::StrCat(
      "vae_pipeline: \"", vae_file, "\" vae_checkpoint: \"", Tmp("nowhere.pt"), "\"")));
  const absl::Status no_checkpoint = no_weights->prior->PrepareForSampling();
  EXPECT_THAT(std::string(no_checkpoint.message()),
              HasSubstr("prior 'diffused_estimate': option vae_checkpoint: "));
  EXPECT_THAT(std::string(no_checkpoint.message()), HasSubstr("nowhere.pt"));

  std::unique_ptr<Pipeline> p = BuildOrFail(EsDdpmText(absl::StrCat(
      "vae_pipeline: \"", vae_file, "\" vae_checkpoint: \"", Tmp("es_vae/checkpoint.pt"), "\"")));
  ASSERT_NE(p, nullptr);
  ASSERT_THAT(p->prior->PrepareForSampling(), IsOk());
  // x0_est = the VAE's decoded mean of z from the sample's stream, then diffused to T' = 600:
  // the same z decoded by the trained VAE directly, and x_{T'} = F_{T'}(x0_est, eps) with eps
  // the stream's next draws.
  PhiloxNoise noise(4, 0);
  const PriorSample start = p->prior->Sample(3, {3, 9, 9}, noise);
  PhiloxNoise replay(4, 0);
  const at::Tensor z = replay.Normal({3, 6});
  at::NoGradGuard no_grad;
  const at::Tensor x0 = vae->decoder->Decode(z).mean;
  EXPECT_TRUE(torch::allclose(start.condition.image, x0, 1e-5, 1e-6));
  const at::Tensor eps = p->forward->SampleNoise({3, 3, 9, 9}, replay);
  const double t_max = p->forward->time_domain().t_max();
  EXPECT_TRUE(torch::allclose(start.x_start, p->forward->Apply(x0, t_max, eps), 1e-5, 1e-6));
  // The U-Net's time input is the full process's (network_time_domain): under the
  // truncation it predicts what the same weights predict under gaussian_vp itself.
  std::string full_text = EsDdpmText("");
  full_text.replace(full_text.find("forward {"), full_text.find("predictor {") - full_text.find("forward {"),
                    "forward { name: \"gaussian_vp\" }\n");
  full_text.replace(full_text.find("prior {"), full_text.find("reverse {") - full_text.find("prior {"),
                    "prior { name: \"standard_normal\" }\n");
  std::unique_ptr<Pipeline> full = BuildOrFail(full_text);
  ASSERT_NE(full, nullptr);
  const at::Tensor x_t = torch::randn({2, 3, 9, 9});
  for (const double t : {1.0, 300.0, 600.0}) {
    EXPECT_TRUE(torch::allclose(p->predictor->Predict(x_t, t, {}).x0,
                                full->predictor->Predict(x_t, t, {}).x0))
        << "t = " << t;
  }
  // And a whole ES-DDPM run samples from it.
  GenerateRequest request;
  request.num = 2;
  absl::StatusOr<Generated> g = Generate(*p, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->samples.sizes(), at::IntArrayRef({2, 3, 9, 9}));
}

// DiffuseVAE, form 1: a U-Net conditioned on x_hat (image_channels), trained on the VAE's
// reconstruction of each x0 and sampled from the VAE's sample.
constexpr char kCosine[] = R"(name: "gaussian_vp" options {
    [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: COSINE } })";

std::string DiffuseVaeText(const std::string& prior, int steps,
                           const std::string& forward = kCosine) {
  static const std::string* images = new std::string(TestImagesFile());
  return absl::StrCat(R"(
    data { name: "tensor_file" options { [type.googleapis.com/diffuse.TensorFileOptions] {
      path: ")", *images, R"(" } } }
    forward { )", forward, R"( }
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      parameterization: V base_channels: 8 channel_mult: [1] attention_resolutions: []
      groups: 4 image_channels: 3 } } }
    prior { )", prior, R"( }
    reverse { name: "substitution" }
    sampler { num_steps: 5 }
    training { steps: )", steps, R"( batch_size: 8 learning_rate: 0.002 log_every: 5
               checkpoint_every: 5 seed: 4 }
  )");
}

TEST(AutoencoderTest, DiffuseVaeTrainsOnTheVaesReconstructionAndResumesExactly) {
  std::unique_ptr<Pipeline> no_source = BuildOrFail(DiffuseVaeText(R"(name: "standard_normal")", 10));
  ASSERT_NE(no_source, nullptr);
  EXPECT_THAT(Train(*no_source, Tmp("diffusevae_no_source"), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("predictor 'unet' is conditioned on an image (image_channels = 3) "
                                 "that prior 'standard_normal' does not supply for training")));

  const std::string vae_file = Tmp("dv_vae.pbtxt");
  ASSERT_THAT(WriteFileAtomically(vae_file, VaeText(10)), IsOk());
  std::unique_ptr<Pipeline> vae = BuildOrFail(VaeText(10));
  ASSERT_THAT(Train(*vae, Tmp("dv_vae"), nullptr), IsOk());
  const std::string prior = absl::StrCat(
      R"(name: "diffused_estimate" options {
        [type.googleapis.com/diffuse.DiffusedEstimatePriorOptions] {
          estimate: VAE estimate_as_condition: true vae_pipeline: ")", vae_file,
      R"(" vae_checkpoint: ")", Tmp("dv_vae/checkpoint.pt"), R"(" } })");

  std::unique_ptr<Pipeline> straight = BuildOrFail(DiffuseVaeText(prior, 10));
  ASSERT_NE(straight, nullptr);
  ASSERT_TRUE(straight->prior->supplies_training_image());
  ASSERT_THAT(Train(*straight, Tmp("diffusevae"), nullptr), IsOk());
  // x_hat = D(mean of q(z | x0)) of the trained VAE.
  const at::Tensor x0 = torch::rand({2, 3, 9, 9}) * 2 - 1;
  {
    at::NoGradGuard no_grad;
    const at::Tensor want = vae->decoder->Decode(vae->encoder->Encode(x0, Time(0.0)).mean).mean;
    EXPECT_TRUE(torch::allclose(straight->prior->TrainingImage(x0), want, 1e-5, 1e-6));
  }
  std::unique_ptr<Pipeline> first = BuildOrFail(DiffuseVaeText(prior, 5));
  ASSERT_THAT(Train(*first, Tmp("diffusevae_resumed"), nullptr), IsOk());
  std::unique_ptr<Pipeline> second = BuildOrFail(DiffuseVaeText(prior, 10));
  ASSERT_THAT(Train(*second, Tmp("diffusevae_resumed"), nullptr), IsOk());
  const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                b = second->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  // The prior supplies the training data here, so resuming with another VAE is refused.
  std::string other_vae = prior;
  other_vae.replace(other_vae.find("dv_vae/checkpoint.pt"), 20, "other/checkpoint.pt");
  std::unique_ptr<Pipeline> third = BuildOrFail(DiffuseVaeText(other_vae, 15));
  EXPECT_THAT(Train(*third, Tmp("diffusevae_resumed"), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("vae_checkpoint")));
  // Generation refines the VAE's sample, passed on as x_hat.
  GenerateRequest request;
  request.num = 2;
  absl::StatusOr<Generated> g = Generate(*straight, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->samples.sizes(), at::IntArrayRef({2, 3, 9, 9}));
}

// DiffuseVAE, form 2: forward "shifted" diffuses x0 around the VAE's reconstruction,
// x_t = x_hat + F_t(x0 - x_hat, eps); without a training x_hat it is refused by name.
TEST(AutoencoderTest, DiffuseVaeShiftedFormTrainsAroundTheReconstruction) {
  const std::string shifted = absl::StrCat(
      R"(name: "shifted" options { [type.googleapis.com/diffuse.ShiftedOptions] { inner { )",
      kCosine, " } } }");
  std::unique_ptr<Pipeline> fit = BuildOrFail(DiffuseVaeText(
      R"(name: "diffused_estimate" options { [type.googleapis.com/diffuse.DiffusedEstimatePriorOptions] {
        estimate: GAUSSIAN_FIT estimate_as_condition: true } })",
      10, shifted));
  ASSERT_NE(fit, nullptr);
  EXPECT_THAT(Train(*fit, Tmp("shifted_fit"), nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("forward 'shifted' offsets x by x_hat, which prior "
                                 "'diffused_estimate' does not supply for training")));

  const std::string vae_file = Tmp("dv2_vae.pbtxt");
  ASSERT_THAT(WriteFileAtomically(vae_file, VaeText(10)), IsOk());
  std::unique_ptr<Pipeline> vae = BuildOrFail(VaeText(10));
  ASSERT_THAT(Train(*vae, Tmp("dv2_vae"), nullptr), IsOk());
  const std::string prior = absl::StrCat(
      R"(name: "diffused_estimate" options {
        [type.googleapis.com/diffuse.DiffusedEstimatePriorOptions] {
          estimate: VAE estimate_as_condition: true vae_pipeline: ")", vae_file,
      R"(" vae_checkpoint: ")", Tmp("dv2_vae/checkpoint.pt"), R"(" } })");
  std::unique_ptr<Pipeline> straight = BuildOrFail(DiffuseVaeText(prior, 10, shifted));
  ASSERT_NE(straight, nullptr);
  absl::StatusOr<TrainingSummary> s = Train(*straight, Tmp("diffusevae2"), nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_TRUE(std::isfinite(s->final_loss));
  std::unique_ptr<Pipeline> first = BuildOrFail(DiffuseVaeText(prior, 5, shifted));
  ASSERT_THAT(Train(*first, Tmp("diffusevae2_resumed"), nullptr), IsOk());
  std::unique_ptr<Pipeline> second = BuildOrFail(DiffuseVaeText(prior, 10, shifted));
  ASSERT_THAT(Train(*second, Tmp("diffusevae2_resumed"), nullptr), IsOk());
  const std::vector<at::Tensor> a = straight->trained_module()->parameters(),
                                b = second->trained_module()->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
  // Generation starts at N(x_hat, I) around the VAE's sample and refines it.
  GenerateRequest request;
  request.num = 2;
  absl::StatusOr<Generated> g = Generate(*straight, request);
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->samples.sizes(), at::IntArrayRef({2, 3, 9, 9}));
  EXPECT_TRUE(torch::isfinite(g->samples).all().item<bool>());
  // The x_hat each sample was refined from comes back beside it: the VAE's own sample of
  // the same per-sample stream.
  ASSERT_TRUE(g->condition_images.defined());
  ASSERT_THAT(LoadWeightsForSampling(*vae, Tmp("dv2_vae/checkpoint.pt")), IsOk());
  absl::StatusOr<Generated> vae_samples = Generate(*vae, request);
  ASSERT_THAT(vae_samples, IsOk());
  EXPECT_TRUE(torch::allclose(g->condition_images, vae_samples->samples, 1e-5, 1e-6));
}

}  // namespace
}  // namespace diffuse
