// Concept 8: a text encoder, prompt -> embedding e in R^D of unit norm. It is trained with
// an image encoder by a contrastive loss (a text-image description, CLIP: Radford et al.
// 2021), then read frozen: by CLIP guidance (the cosine between e and the image embedding of
// x0_hat or x_t) and by a text-conditioned predictor (e as its latent condition).
#ifndef DIFFUSE_MODELS_TEXT_ENCODER_H_
#define DIFFUSE_MODELS_TEXT_ENCODER_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

class TextEncoder {
 public:
  virtual ~TextEncoder() = default;
  // D, the width of the embedding.
  virtual int64_t embedding_dim() const = 0;
  // The words of `text` as token ids; an unknown word is INVALID_ARGUMENT naming it and
  // the vocabulary.
  virtual absl::StatusOr<std::vector<int64_t>> Tokenize(absl::string_view text) const = 0;
  // One token list per text (possibly empty) -> [B, D], rows of unit norm, in the weights'
  // floating type; differentiable in the weights.
  virtual at::Tensor Embed(const std::vector<std::vector<int64_t>>& tokens) = 0;
  // The per-token states [B, L, W] (in the weights' type) and the mask [B, L] (true for a
  // real token) that a cross-attention predictor reads; both undefined for encoders without
  // them (bag_of_words).
  struct TokenStates {
    at::Tensor states, mask;
  };
  virtual TokenStates EmbedTokens(const std::vector<std::vector<int64_t>>& tokens) { return {}; }
  // W, the width of the per-token states; 0 for encoders without them.
  virtual int64_t token_state_dim() const { return 0; }
  // The network `diffuse train` fits in a text-image description; null for an encoder
  // loaded frozen from a checkpoint.
  virtual torch::nn::Module* module() { return nullptr; }
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_TEXT_ENCODER_H_
