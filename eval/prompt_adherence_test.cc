#include "eval/prompt_adherence.h"

#include <torch/types.h>

#include "absl/strings/str_join.h"
#include "data/fashion_captions.h"
#include "data/fashion_mnist_files.h"
#include "gtest/gtest.h"

namespace diffuse {
namespace {

// Real test images prompted with their own full captions, classified by their true labels,
// hold every word; the opposite attribute words hold none.
TEST(PromptAdherenceTest, OwnCaptionsHoldAndOppositeWordsDoNot) {
  absl::StatusOr<FashionMnistSplit> test = ReadFashionMnist(kFashionMnistDir, false);
  ASSERT_TRUE(test.ok()) << test.status();
  const at::Tensor images = FashionMnistToFloat(test->images.slice(0, 0, 300));
  const at::Tensor labels = test->labels.slice(0, 0, 300);
  const auto captions = FashionCaptioner().Caption(images, labels);
  std::vector<std::string> own, opposite;
  for (const auto& words : captions) {
    own.push_back(absl::StrJoin(words, " "));
    std::vector<std::string> flipped = {words[0]};
    for (size_t a = 1; a < words.size(); ++a) {
      static const std::map<std::string, std::string> kOpposite = {
          {"small", "large"}, {"large", "small"}, {"dark", "light"},
          {"light", "dark"},  {"plain", "patterned"}, {"patterned", "plain"}};
      flipped.push_back(kOpposite.at(words[a]));
    }
    opposite.push_back(absl::StrJoin(flipped, " "));
  }
  auto held = FashionPromptAdherence(images, own, labels);
  ASSERT_TRUE(held.ok()) << held.status();
  int64_t attribute_asks = 0;
  for (const auto& [word, a] : *held) {
    EXPECT_EQ(a.held, a.asked) << word;
    if (word != "class") attribute_asks += a.asked;
  }
  EXPECT_EQ(held->at("class").asked, 300);
  EXPECT_EQ(attribute_asks, 900);
  auto flipped = FashionPromptAdherence(images, opposite, labels);
  ASSERT_TRUE(flipped.ok());
  for (const auto& [word, a] : *flipped) {
    EXPECT_EQ(a.held, word == "class" ? a.asked : 0) << word;
  }
  // A wrong classification counts against the class word only.
  auto misread = FashionPromptAdherence(images, own, (labels + 1).remainder(10));
  ASSERT_TRUE(misread.ok());
  EXPECT_EQ(misread->at("class").held, 0);
}

// Attribute words are measured relative to the class the prompt names, not the classified
// one: a bright square is light for a coat (median ink brightness 0.724) whatever it looks
// like to the classifier, and not a coat when classified a sandal.
TEST(PromptAdherenceTest, AttributesAreRelativeToThePromptsClass) {
  at::Tensor p = torch::zeros({1, 1, 28, 28});
  p.slice(2, 4, 24).slice(3, 4, 24).fill_(0.9);  // brightness 0.9, area 400 / 784
  const at::Tensor images = (p * 2 - 1).repeat({2, 1, 1, 1});
  auto result = FashionPromptAdherence(images, {"light coat", "dark coat"},
                                       torch::tensor({5, 4}, torch::kLong));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->at("class").held, 1);  // the second is classified a coat
  EXPECT_EQ(result->at("light").held, 1);
  EXPECT_EQ(result->at("dark").held, 0);
  EXPECT_EQ(result->count("small"), 0u);
}

TEST(PromptAdherenceTest, UnknownWordNamesThePrompt) {
  const at::Tensor images = torch::zeros({1, 1, 28, 28});
  auto result = FashionPromptAdherence(images, {"dark boat"}, torch::zeros({1}, torch::kLong));
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("prompt 0 'dark boat': unknown word 'boat'"),
            std::string::npos)
      << result.status();
}

}  // namespace
}  // namespace diffuse
