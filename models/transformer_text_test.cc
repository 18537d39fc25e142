#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/ones.h>
#include <torch/nn/module.h>

#include "absl/strings/str_cat.h"
#include "assembly/test_support.h"
#include "assembly/train.h"
#include "gtest/gtest.h"
#include "util/atomic_file.h"
#include "util/png.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

// Eight one-colour pictures with captions of two to four words.
std::string WriteFolder() {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/colours");
  mkdir(dir.c_str(), 0755);
  struct Colour { const char* caption; uint8_t r, g, b; };
  const Colour colours[] = {{"red square", 255, 0, 0},       {"dark red square", 120, 0, 0},
                            {"green square", 0, 255, 0},     {"dark green square", 0, 110, 0},
                            {"blue square", 0, 0, 255},      {"dark blue square", 0, 0, 110},
                            {"white square, light tone", 255, 255, 255},
                            {"black square", 0, 0, 0}};
  std::string manifest;
  for (int i = 0; i < 8; ++i) {
    RgbImage image(16, 16, 0);
    for (int y = 0; y < 16; ++y) {
      for (int x = 0; x < 16; ++x) image.Set(x, y, colours[i].r, colours[i].g, colours[i].b);
    }
    EXPECT_THAT(WritePng(absl::StrCat(dir, "/", i, ".png"), image), IsOk());
    manifest += absl::StrCat("{\"file\": \"", i, ".png\", \"caption\": \"", colours[i].caption, "\"}\n");
  }
  EXPECT_THAT(WriteFileAtomically(dir + "/manifest.jsonl", manifest), IsOk());
  return dir + "/manifest.jsonl";
}

std::string Description(const std::string& manifest) {
  return absl::StrCat(R"(
    data { name: "image_folder" options { [type.googleapis.com/diffuse.ImageFolderOptions] {
      manifest: ")", manifest, R"(" size: 16 split: ALL caption_column: "caption" } } }
    encoder { name: "semantic_encoder" options { [type.googleapis.com/diffuse.SemanticEncoderOptions] {
      latent_dim: 16 base_channels: 8 channel_mult: [1, 2] groups: 4 } } }
    text_encoder { name: "transformer_text" options { [type.googleapis.com/diffuse.TransformerTextOptions] {
      embedding_dim: 16 width: 32 layers: 2 heads: 4 max_tokens: 8 vocabulary_size: 60 } } }
    training { steps: 150 batch_size: 16 learning_rate: 0.003 log_every: 50 seed: 4
               caption_word_dropout: 0 }
  )");
}

TEST(TransformerTextTest, EmbeddingsAreUnitNormAndIgnorePadding) {
  auto p = BuildOrFail(Description(WriteFolder()));
  ASSERT_NE(p, nullptr);
  TextEncoder& text = *p->text_encoder;
  const std::vector<int64_t> short_text = *text.Tokenize("red");
  const std::vector<int64_t> long_text = *text.Tokenize("dark green square, light tone");
  // An unseen word splits into known pieces (or the unknown piece), never an error.
  ASSERT_THAT(text.Tokenize("reddish greenery zebra"), IsOk());
  EXPECT_EQ(text.Tokenize("a b c d e f g h i j k l m n")->size(), 7u);  // max_tokens - 1
  const at::Tensor both = text.Embed({short_text, long_text});
  const at::Tensor alone = text.Embed({short_text});
  ASSERT_EQ(both.sizes(), (std::vector<int64_t>{2, 16}));
  EXPECT_TRUE(at::allclose(both.norm(2, 1), at::ones({2}), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(both[0], alone[0], 1e-5, 1e-6));  // padding is masked out
  const TextEncoder::TokenStates states = text.EmbedTokens({short_text, long_text});
  ASSERT_EQ(states.states.size(0), 2);
  EXPECT_EQ(states.states.size(1), static_cast<int64_t>(long_text.size()) + 1);
  EXPECT_EQ(states.states.size(2), 32);
  EXPECT_EQ(states.mask[0].sum().item<int64_t>(), static_cast<int64_t>(short_text.size()) + 1);
  EXPECT_TRUE(states.mask[1].all().item<bool>());
}

// Trained with the image encoder by the contrastive loss, it learns to tell the captions
// apart: the loss falls and the batch accuracy rises.
TEST(TransformerTextTest, LearnsContrastivelyWithAnImageEncoder) {
  auto p = BuildOrFail(Description(WriteFolder()));
  ASSERT_NE(p, nullptr);
  absl::StatusOr<TrainingSummary> s =
      Train(*p, absl::StrCat(getenv("TEST_TMPDIR"), "/contrastive"), nullptr);
  ASSERT_THAT(s, IsOk());
  EXPECT_LT(s->final_loss, 0.7 * s->first_loss);
}

}  // namespace
}  // namespace diffuse
