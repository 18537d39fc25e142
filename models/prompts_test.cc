#include "models/prompts.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "gtest/gtest.h"

namespace diffuse {
namespace {

TEST(WordVocabularyTest, TokenizesCaseAndPunctuationFreeSkippingArticles) {
  WordVocabulary vocabulary({"sandal", "dark", "light"});
  absl::StatusOr<std::vector<int64_t>> tokens = vocabulary.Tokenize("A Dark,  sandal");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(*tokens, (std::vector<int64_t>{1, 0}));
  EXPECT_TRUE(vocabulary.Tokenize("")->empty());
}

TEST(WordVocabularyTest, UnknownWordIsNamedWithTheVocabulary) {
  WordVocabulary vocabulary({"sandal", "dark"});
  const absl::Status status = vocabulary.Tokenize("dark boat").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("unknown word 'boat'"), std::string::npos) << status;
  EXPECT_NE(status.message().find("sandal, dark"), std::string::npos) << status;
}

TEST(DropWordsTest, KeepsEachWordWithOneMinusTheDropProbability) {
  const std::vector<std::vector<std::string>> captions(20000, {"a", "b"});
  at::Generator gen = at::detail::createCPUGenerator(3);
  const std::vector<std::string> texts = DropWords(captions, 0.25, gen);
  int both = 0, none = 0, a_only = 0;
  for (const std::string& t : texts) {
    both += t == "a b";
    none += t.empty();
    a_only += t == "a";
  }
  // Independent drops: P(both) = 0.75^2, P(none) = 0.25^2, P(a only) = 0.75 * 0.25.
  EXPECT_NEAR(both / 20000.0, 0.5625, 0.015);
  EXPECT_NEAR(none / 20000.0, 0.0625, 0.01);
  EXPECT_NEAR(a_only / 20000.0, 0.1875, 0.012);
  // drop = 0 keeps every caption whole.
  EXPECT_EQ(DropWords({{"x", "y"}}, 0.0, gen), (std::vector<std::string>{"x y"}));
}

}  // namespace
}  // namespace diffuse
