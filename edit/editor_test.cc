// Editing real images: the edit section's checks (phases out of order, missing or unknown
// losses and prompt words, conditional predictors), Asyrp's sampler with a zero shift
// bit-identical to the unshifted one and equal to the toolkit's DDIM / DDPM steps, and each
// method moving images along the text direction of a text-image model trained here.
#include <fstream>
#include <sstream>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/equal.h>

#include "absl/strings/str_cat.h"
#include "assembly/test_support.h"
#include "assembly/trained_loader.h"
#include "data/fashion_mnist_files.h"
#include "edit/editor.h"
#include "gtest/gtest.h"
#include "models/prompts.h"
#include "models/text_image_model.h"
#include "pipeline/trained_description.h"
#include "random/noise_source.h"
#include "reverse/inversion.h"
#include "assembly/train.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr char kData[] = R"(
    data { name: "fashion_mnist" }
    forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
      schedule: COSINE } } })";

std::string TextImageText() {
  return absl::StrCat(R"(data { name: "fashion_mnist" }
    encoder { name: "semantic_encoder" options { [type.googleapis.com/diffuse.SemanticEncoderOptions] {
      latent_dim: 16 base_channels: 8 channel_mult: [1, 2] groups: 4 } } }
    text_encoder { name: "bag_of_words" options { [type.googleapis.com/diffuse.BagOfWordsOptions] {
      embedding_dim: 16 hidden_dim: 32 } } }
    training { steps: 100 batch_size: 64 learning_rate: 0.003 log_every: 50
               checkpoint_every: 100 seed: 4 ema_decay: 0.9 caption_word_dropout: 0.3 })");
}

std::string UNetText(const std::string& extra = "") {
  return absl::StrCat(kData, R"(
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      parameterization: V base_channels: 8 channel_mult: [1, 2] attention_resolutions: []
      groups: 4 } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
    training { steps: 60 batch_size: 32 learning_rate: 0.003 log_every: 30
               checkpoint_every: 60 seed: 5 ema_decay: 0 }
  )", extra);
}

std::string TmpDir(const std::string& name) { return absl::StrCat(getenv("TEST_TMPDIR"), "/", name); }

// Trains `text` into TEST_TMPDIR/name once; returns the checkpoint.
std::string TrainedOnce(const std::string& text, const std::string& name) {
  const std::string dir = TmpDir(name);
  if (!std::ifstream(CheckpointPath(dir)).good()) {
    std::unique_ptr<Pipeline> p = BuildOrFail(text);
    EXPECT_NE(p, nullptr);
    EXPECT_THAT(Train(*p, dir, nullptr), IsOk());
  }
  return CheckpointPath(dir);
}

std::string EditSection(const std::string& fields, const std::string& source = "dark",
                        const std::string& target = "light") {
  return absl::StrCat(R"(edit { loss { name: "clip_direction" options {
      [type.googleapis.com/diffuse.ClipDirectionOptions] { checkpoint: ")",
                      TrainedOnce(TextImageText(), "text_image"), R"(" source_prompt: ")", source,
                      R"(" target_prompt: ")", target, R"(" } } } )", fields, " }");
}

// The U-Net trained briefly, with `edit` fields, weights loaded, and its editor.
struct Built {
  std::unique_ptr<Pipeline> pipeline;
  std::unique_ptr<Editor> editor;
};
Built BuildEdit(const std::string& fields) {
  Built b;
  const std::string checkpoint = TrainedOnce(UNetText(), "unet");
  b.pipeline = BuildOrFail(UNetText(EditSection(fields)));
  EXPECT_NE(b.pipeline, nullptr);
  EXPECT_THAT(LoadWeightsForSampling(*b.pipeline, checkpoint), IsOk());
  absl::StatusOr<std::unique_ptr<Editor>> editor = BuildEditor(*b.pipeline);
  EXPECT_THAT(editor, IsOk());
  if (editor.ok()) b.editor = *std::move(editor);
  return b;
}

absl::Status EditorStatus(const std::string& text) {
  absl::StatusOr<std::unique_ptr<Pipeline>> p = BuildFromText(text);
  if (!p.ok()) return p.status();
  return BuildEditor(**p).status();
}

at::Tensor TestImages(int64_t n) {
  absl::StatusOr<FashionMnistSplit> split = ReadFashionMnist(kFashionMnistDir, false);
  EXPECT_THAT(split, IsOk());
  return FashionMnistToFloat(split->images.slice(0, 0, n));
}

// Mean cosine between each image's embedding change and the text direction target - source.
double AlongText(const at::Tensor& edited, const at::Tensor& original) {
  std::unique_ptr<Pipeline> model = BuildOrFail(TextImageText());
  EXPECT_THAT(LoadWeightsForSampling(*model, TrainedOnce(TextImageText(), "text_image")), IsOk());
  at::NoGradGuard no_grad;
  auto embed = [&](const at::Tensor& x) {
    const at::Tensor e = model->encoder->Encode(x, Time(0.0)).mean;
    return e / e.norm(2, 1, true);
  };
  absl::StatusOr<at::Tensor> words = EmbedPrompts(*model->text_encoder, {"dark", "light"}, "w");
  EXPECT_THAT(words, IsOk());
  const at::Tensor d = (*words)[1] - (*words)[0];
  const at::Tensor change = embed(edited) - embed(original);
  return (change.matmul(d) / (change.norm(2, 1) * d.norm())).mean().item<double>();
}

TEST(EditorTest, RefusesBadEditSections) {
  EXPECT_THAT(EditorStatus(UNetText(EditSection("start_time: 0.5 edit_until: 0.7"))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("edit.edit_until = 0.7 must be <= edit.start_time = 0.5")));
  EXPECT_THAT(EditorStatus(UNetText(EditSection("edit_until: 0.4 boost_below: 0.6"))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("edit.boost_below = 0.6 must be <= edit.edit_until = 0.4")));
  EXPECT_THAT(EditorStatus(UNetText(EditSection("shift_channels: 33"))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("edit.shift_channels = 33 must be even")));
  EXPECT_THAT(EditorStatus(UNetText(EditSection("num_steps: 0"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("edit.num_steps")));
  EXPECT_THAT(EditorStatus(UNetText(EditSection("", "dark", "shiny"))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("edit.loss 'clip_direction': option target_prompt")));
  EXPECT_THAT(EditorStatus(UNetText(EditSection("", "dark", "dark"))),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no direction")));
  EXPECT_THAT(EditorStatus(UNetText("edit { loss { name: \"lpips\" } }")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("edit.loss.name: unknown component 'lpips'")));
  EXPECT_THAT(EditorStatus(UNetText("edit { }")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("edit.loss is required")));
  EXPECT_THAT(EditorStatus(UNetText()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no edit section")));
  // Only a diffusion description edits: a text-image description refuses the section.
  EXPECT_THAT(EditorStatus(TextImageText() + EditSection("")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has no 'edit' section")));
}

// Asyrp with f_t = 0 (untrained: its last layer starts at zero) gives bit for bit what
// shift_scale 0 gives (no hook at all); and the unshifted sampler is the toolkit's DDIM
// (boost_below 0) and DDPM (boost_below = start) from the inverted x_start.
TEST(AsyrpTest, ZeroShiftIsBitIdenticalAndPhasesAreTheToolkitsSteps) {
  const at::Tensor images = TestImages(6);
  Built zero = BuildEdit("num_steps: 10 inversion_steps: 10 edit_until: 0.5 boost_below: 0.2");
  Built off = BuildEdit("num_steps: 10 inversion_steps: 10 edit_until: 0.5 boost_below: 0.2 "
                        "shift_scale: 0");
  ASSERT_NE(zero.editor, nullptr);
  ASSERT_NE(off.editor, nullptr);
  EXPECT_TRUE(at::equal(zero.editor->Apply(images, 0, nullptr),
                           off.editor->Apply(images, 0, nullptr)));

  // Without an edited step there is nothing to learn.
  Built none = BuildEdit("num_steps: 10 inversion_steps: 10 edit_until: 1 boost_below: 0");
  ASSERT_NE(none.editor, nullptr);
  EXPECT_THAT(none.editor->Learn(images, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("edit.edit_until = 1 leaves no edited step")));

  for (const double boost : {0.0, 1.0}) {
    SCOPED_TRACE(boost);
    Built b = BuildEdit(absl::StrCat("num_steps: 10 inversion_steps: 10 edit_until: 1 "
                                     "boost_below: ", boost, " seed: 3"));
    ASSERT_NE(b.editor, nullptr);
    const EditContext& c = b.editor->context();
    at::NoGradGuard no_grad;
    const at::Tensor x_start = c.Invert(images);
    std::unique_ptr<Pipeline> reference = BuildOrFail(UNetText());
    ASSERT_THAT(LoadWeightsForSampling(*reference, TrainedOnce(UNetText(), "unet")), IsOk());
    SamplingComponents components = reference->sampling();
    std::unique_ptr<ReverseConditional> ddpm =
        CreateOrFail<ReverseConditional>("name: \"partial_substitution\"", {});
    if (boost > 0) components.reverse = ddpm.get();
    PhiloxNoise noise(3, 0);
    const at::Tensor expected = RunReverseProcess(components, x_start, c.times, {}, noise);
    EXPECT_TRUE(at::allclose(b.editor->Apply(images, 0, nullptr), expected, 1e-5, 1e-5));
  }
}

TEST(AsyrpTest, LearnedShiftMovesImagesAlongTheTextDirection) {
  Built b = BuildEdit("num_steps: 10 inversion_steps: 10 edit_until: 0.4 boost_below: 0 "
                      "epochs: 3 batch_size: 8 learning_rate: 0.01 reconstruction_weight: 0.1");
  ASSERT_NE(b.editor, nullptr);
  const at::Tensor train = TestImages(32);
  const at::Tensor held_out = TestImages(48).slice(0, 32);
  const at::Tensor before = b.editor->Apply(held_out, 0, nullptr);
  std::ostringstream progress;
  ASSERT_THAT(b.editor->Learn(train, &progress), IsOk());
  EXPECT_THAT(progress.str(), HasSubstr("edit asyrp: epoch 3  images 96/96"));
  const at::Tensor after = b.editor->Apply(held_out, 0, nullptr);
  EXPECT_GT(AlongText(after, before), 0.3);

  // Saved and loaded into a fresh editor: the same edits.
  const std::string path = TmpDir("shift.pt");
  ASSERT_THAT(SaveLearned(*b.editor, path), IsOk());
  Built fresh = BuildEdit("num_steps: 10 inversion_steps: 10 edit_until: 0.4 boost_below: 0");
  ASSERT_THAT(LoadLearned(*fresh.editor, path), IsOk());
  EXPECT_TRUE(at::equal(fresh.editor->Apply(held_out, 0, nullptr), after));
  Built narrow = BuildEdit("num_steps: 10 inversion_steps: 10 edit_until: 0.4 shift_channels: 16");
  EXPECT_THAT(LoadLearned(*narrow.editor, path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("learned for another model")));
  std::ofstream(TmpDir("bad.pt")) << "not a module";
  EXPECT_THAT(LoadLearned(*fresh.editor, TmpDir("bad.pt")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.pt")));
}

// DiffusionCLIP: fine-tuning the model, or optimizing each image's x_start, moves the
// reconstruction along the text direction.
TEST(DiffusionClipTest, FineTuningAndNoiseOptimizationFollowTheTextDirection) {
  const at::Tensor train = TestImages(16);
  const at::Tensor held_out = TestImages(24).slice(0, 16);
  for (const std::string method : {"FINETUNE_MODEL", "OPTIMIZE_NOISE"}) {
    SCOPED_TRACE(method);
    Built b = BuildEdit(absl::StrCat("method: ", method, " start_time: 0.5 num_steps: 4 "
                                     "inversion_steps: 10 epochs: 3 batch_size: 8 "
                                     "noise_iterations: 10 reconstruction_weight: 0.1 "
                                     "learning_rate: ", method == "FINETUNE_MODEL" ? 0.001 : 0.05));
    ASSERT_NE(b.editor, nullptr);
    at::Tensor reconstruction;
    {
      at::NoGradGuard no_grad;
      reconstruction = b.editor->context().Regenerate(b.editor->context().Invert(held_out));
    }
    ASSERT_THAT(b.editor->Learn(train, nullptr), IsOk());
    EXPECT_EQ(b.editor->learned() != nullptr, method == "FINETUNE_MODEL");
    EXPECT_GT(AlongText(b.editor->Apply(held_out, 0, nullptr), reconstruction), 0.3);
  }
}

// Edit loss "classifier_target": optimizing each image's x_start raises the noisy
// classifier's probability of the target class; the target class is checked.
TEST(ClassifierTargetTest, NoiseOptimizationRaisesTheTargetClassProbability) {
  const std::string classifier = TrainedOnce(absl::StrCat(kData, R"(
    classifier { name: "unet_classifier" options { [type.googleapis.com/diffuse.UNetClassifierOptions] {
      base_channels: 8 } } }
    training { steps: 100 batch_size: 64 learning_rate: 0.003 log_every: 50 checkpoint_every: 100
               seed: 6 ema_decay: 0 })"), "classifier");
  auto section = [&](int target, const std::string& fields) {
    return absl::StrCat(R"(edit { loss { name: "classifier_target" options {
        [type.googleapis.com/diffuse.ClassifierTargetOptions] { classifier { name: "trained_classifier"
        options { [type.googleapis.com/diffuse.TrainedClassifierOptions] { checkpoint: ")",
                        classifier, R"(" } } } target_class: )", target, " } } } ", fields, " }");
  };
  EXPECT_THAT(EditorStatus(UNetText(section(10, ""))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("option target_class = 10 must be in [0, 10)")));
  std::unique_ptr<Pipeline> p = BuildOrFail(UNetText(section(
      9, "method: OPTIMIZE_NOISE start_time: 0.5 num_steps: 4 inversion_steps: 10 "
         "noise_iterations: 10 learning_rate: 0.05 reconstruction_weight: 0")));
  ASSERT_NE(p, nullptr);
  ASSERT_THAT(LoadWeightsForSampling(*p, TrainedOnce(UNetText(), "unet")), IsOk());
  absl::StatusOr<std::unique_ptr<Editor>> editor = BuildEditor(*p);
  ASSERT_THAT(editor, IsOk());
  EXPECT_EQ((*editor)->context().loss->target_label(), 9);
  const at::Tensor images = TestImages(8);
  const at::Tensor reconstruction = (*editor)->Reconstruct(images, 0);
  const at::Tensor edited = (*editor)->Apply(images, 0, nullptr);
  at::NoGradGuard no_grad;
  EditLoss& loss = *(*editor)->context().loss;
  EXPECT_LT(loss.Loss(edited, images).mean().item<double>(),
            loss.Loss(reconstruction, images).mean().item<double>() - 0.5);
}

}  // namespace
}  // namespace diffuse
