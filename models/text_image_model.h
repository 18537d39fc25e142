// A text-image model (CLIP, Radford et al. 2021) trained here by `diffuse train` from a
// text-image description, loaded frozen from its checkpoint: what CLIP guidance and a
// text-conditioned predictor read.
#ifndef DIFFUSE_MODELS_TEXT_IMAGE_MODEL_H_
#define DIFFUSE_MODELS_TEXT_IMAGE_MODEL_H_

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "forward/forward_process.h"
#include "forward/time.h"
#include "models/text_encoder.h"
#include "pipeline/build_context.h"
#include "pipeline/trained_description.h"

namespace diffuse {

class TextImageModel {
 public:
  explicit TextImageModel(std::unique_ptr<TrainedDescription> trained);
  ~TextImageModel();
  int64_t embedding_dim() const;
  // Whether the image encoder reads x_t at t (trained on a forward process's x_t), or clean
  // images.
  bool noise_aware() const;
  TextEncoder& text_encoder();
  // The forward process whose x_t a noise-aware model reads; null for a clean model.
  const ForwardProcess* forward() const;
  // Unit-norm image embeddings [B, D] of x [B, C, H, W] (at t when noise-aware),
  // differentiable in x; computed in the weights' type, returned in x's.
  at::Tensor EmbedImages(const at::Tensor& x, const Time& t);

 private:
  std::unique_ptr<TrainedDescription> trained_;
};

// Loads the checkpoint `path` of a text-image description. With `images_here`, its images
// must be those this pipeline makes: the sample shape of context.data and, for a
// noise-aware model, the x_t of context.forward. Errors start with "checkpoint PATH".
absl::StatusOr<std::unique_ptr<TextImageModel>> LoadTextImageModel(const std::string& path,
                                                                   const BuildContext& context,
                                                                   bool images_here);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_TEXT_IMAGE_MODEL_H_
