#include "models/prompts.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "util/status_macros.h"

namespace diffuse {

WordVocabulary::WordVocabulary(std::vector<std::string> words) : words_(std::move(words)) {
  for (size_t i = 0; i < words_.size(); ++i) ids_[words_[i]] = static_cast<int64_t>(i);
}

absl::StatusOr<std::vector<int64_t>> WordVocabulary::Tokenize(absl::string_view text) const {
  std::vector<int64_t> tokens;
  for (absl::string_view piece : absl::StrSplit(text, absl::ByAnyChar(" ,\t\n"), absl::SkipEmpty())) {
    const std::string word = absl::AsciiStrToLower(piece);
    if (word == "a" || word == "an" || word == "the") continue;
    const auto it = ids_.find(word);
    if (it == ids_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown word '", word, "'; the vocabulary is: ", absl::StrJoin(words_, ", ")));
    }
    tokens.push_back(it->second);
  }
  return tokens;
}

namespace {

absl::StatusOr<std::vector<std::vector<int64_t>>> TokenizePrompts(
    const TextEncoder& encoder, const std::vector<std::string>& texts, absl::string_view field) {
  std::vector<std::vector<int64_t>> tokens;
  for (size_t i = 0; i < texts.size(); ++i) {
    absl::StatusOr<std::vector<int64_t>> t = encoder.Tokenize(texts[i]);
    if (!t.ok()) {
      return absl::Status(t.status().code(), absl::StrCat(field, "[", i, "] '", texts[i],
                                                          "': ", t.status().message()));
    }
    tokens.push_back(*std::move(t));
  }
  return tokens;
}

}  // namespace

absl::StatusOr<at::Tensor> EmbedPrompts(TextEncoder& encoder,
                                        const std::vector<std::string>& texts,
                                        absl::string_view field) {
  ABSL_ASSIGN_OR_RETURN(const std::vector<std::vector<int64_t>> tokens,
                        TokenizePrompts(encoder, texts, field));
  at::NoGradGuard no_grad;
  return encoder.Embed(tokens);
}

absl::StatusOr<TextEncoder::TokenStates> EmbedPromptTokens(TextEncoder& encoder,
                                                           const std::vector<std::string>& texts,
                                                           absl::string_view field) {
  ABSL_ASSIGN_OR_RETURN(const std::vector<std::vector<int64_t>> tokens,
                        TokenizePrompts(encoder, texts, field));
  at::NoGradGuard no_grad;
  return encoder.EmbedTokens(tokens);
}

std::vector<std::string> DropWords(const std::vector<std::vector<std::string>>& captions,
                                   double drop, at::Generator& generator) {
  size_t words = 0;
  for (const auto& caption : captions) words += caption.size();
  const at::Tensor keep =
      at::rand({static_cast<int64_t>(words)}, generator, at::kDouble).ge(drop);
  const bool* k = keep.data_ptr<bool>();
  std::vector<std::string> texts;
  texts.reserve(captions.size());
  for (const auto& caption : captions) {
    std::vector<absl::string_view> kept;
    for (const std::string& word : caption) {
      if (*k++) kept.push_back(word);
    }
    texts.push_back(absl::StrJoin(kept, " "));
  }
  return texts;
}

}  // namespace diffuse
