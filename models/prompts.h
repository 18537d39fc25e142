// Words of prompts and captions: a fixed vocabulary, and embedding a list of prompts with
// errors that name the prompt at fault.
#ifndef DIFFUSE_MODELS_PROMPTS_H_
#define DIFFUSE_MODELS_PROMPTS_H_

#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "models/text_encoder.h"

namespace diffuse {

class WordVocabulary {
 public:
  explicit WordVocabulary(std::vector<std::string> words);
  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  const std::vector<std::string>& words() const { return words_; }
  // Lower-cased words of `text` split at spaces and commas, as ids in [0, size); "a", "an"
  // and "the" are skipped. An unknown word is INVALID_ARGUMENT naming it and listing the
  // vocabulary.
  absl::StatusOr<std::vector<int64_t>> Tokenize(absl::string_view text) const;

 private:
  std::vector<std::string> words_;
  std::map<std::string, int64_t> ids_;
};

// The embeddings of `texts`, [N, D] without autograd; errors read "FIELD[i] 'TEXT': ...".
absl::StatusOr<at::Tensor> EmbedPrompts(TextEncoder& encoder,
                                        const std::vector<std::string>& texts,
                                        absl::string_view field);
// The per-token states of `texts` (TextEncoder::EmbedTokens) without autograd, padded to
// the longest; the same errors.
absl::StatusOr<TextEncoder::TokenStates> EmbedPromptTokens(TextEncoder& encoder,
                                                           const std::vector<std::string>& texts,
                                                           absl::string_view field);

// The caption words of each example as one text per example, each word dropped with
// probability `drop` (draws from `generator`, one per word).
std::vector<std::string> DropWords(const std::vector<std::vector<std::string>>& captions,
                                   double drop, at::Generator& generator);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_PROMPTS_H_
