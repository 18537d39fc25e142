#include "models/subword_tokenizer.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace diffuse {
namespace {

std::vector<std::string> Captions() {
  return {"woman surfing, medium skin tone", "man surfing, dark skin tone", "surfboard",
          "woman surfing", "person surfing, light skin tone", "man biking", "woman biking",
          "board game", "skateboard", "snowboarder", "snowboarder, medium skin tone"};
}

TEST(SubwordTokenizerTest, KnownWordsRoundTrip) {
  const SubwordTokenizer tokenizer(Captions(), 200);
  for (const std::string& caption : Captions()) {
    const std::vector<int64_t> ids = tokenizer.Encode(caption);
    std::string words;
    for (const std::string& w : SubwordTokenizer::Words(caption)) words += (words.empty() ? "" : " ") + w;
    EXPECT_EQ(tokenizer.Decode(ids), words) << caption;
    for (int64_t id : ids) EXPECT_NE(id, 0) << caption;
  }
  // Frequent words become single pieces.
  EXPECT_EQ(tokenizer.Encode("surfing").size(), 1u);
  EXPECT_EQ(tokenizer.Encode("Skin, TONE").size(), 2u);
}

TEST(SubwordTokenizerTest, UnseenWordsSplitIntoKnownPieces) {
  const SubwordTokenizer tokenizer(Captions(), 200);
  const std::vector<int64_t> ids = tokenizer.Encode("surfboarding");
  EXPECT_GT(ids.size(), 1u);
  for (int64_t id : ids) EXPECT_NE(id, 0);
  EXPECT_EQ(tokenizer.Decode(ids), "surfboarding");
  // A character never seen is the unknown token; the rest still encodes.
  const std::vector<int64_t> q = tokenizer.Encode("quiz");
  EXPECT_EQ(q.front(), 0);
  EXPECT_EQ(tokenizer.piece(0), "<unk>");
  EXPECT_TRUE(tokenizer.Encode("").empty());
  EXPECT_TRUE(tokenizer.Encode(" ,;").empty());
}

TEST(SubwordTokenizerTest, SizeBoundsTheVocabularyAndLearningIsDeterministic) {
  const SubwordTokenizer small(Captions(), 30);
  EXPECT_LE(small.size(), 30);
  const SubwordTokenizer again(Captions(), 30);
  ASSERT_EQ(small.size(), again.size());
  for (int64_t i = 0; i < small.size(); ++i) EXPECT_EQ(small.piece(i), again.piece(i));
  // Fewer pieces: longer encodings of the same text.
  const SubwordTokenizer large(Captions(), 500);
  EXPECT_GT(small.Encode("woman surfing").size(), large.Encode("woman surfing").size());
  EXPECT_LT(large.size(), 500);  // merges stop when no pair repeats
}

}  // namespace
}  // namespace diffuse
