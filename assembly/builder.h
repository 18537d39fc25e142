// Assembles a pipeline from its description and checks it once: every name resolves, every
// option is in range, every pair of components is compatible. Errors name the field, e.g.
//   reverse 'substitution': needs a forward process that is invertible in eps
//   sampler.num_steps = 0 must be in [1, 1000] (the training steps T)
#ifndef DIFFUSE_ASSEMBLY_BUILDER_H_
#define DIFFUSE_ASSEMBLY_BUILDER_H_

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "data/dataset.h"
#include "forward/forward_process.h"
#include "guidance/guidance_term.h"
#include "models/decoder.h"
#include "models/encoder.h"
#include "models/latent_prior.h"
#include "models/noisy_classifier.h"
#include "models/text_encoder.h"
#include "models/x0_predictor.h"
#include "pipeline/description_kind.h"
#include "pipeline/pipeline.pb.h"
#include "reverse/reverse_conditional.h"
#include "reverse/sampler.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

struct Pipeline {
  PipelineConfig config;
  std::unique_ptr<Dataset> data;
  std::unique_ptr<ForwardProcess> forward;
  std::unique_ptr<X0Predictor> predictor;
  std::unique_ptr<LatentPrior> prior;
  std::unique_ptr<ReverseConditional> reverse;
  std::vector<std::unique_ptr<GuidanceTerm>> guidance;
  std::unique_ptr<Encoder> encoder;  // optional (PipelineConfig.encoder)
  // An autoencoder description (PipelineConfig.decoder) has data, encoder and decoder, and
  // optionally a prior over z (latent diffusion): forward, predictor and reverse are null
  // and there is no grid.
  std::unique_ptr<Decoder> decoder;
  // A classifier description (PipelineConfig.classifier) has data, forward and the noisy
  // classifier it trains; predictor, prior and reverse are null and there is no grid.
  std::unique_ptr<NoisyClassifier> classifier;
  // A text-image description (PipelineConfig.text_encoder without a predictor) has data,
  // the image encoder (`encoder`), the text encoder, and optionally a forward process
  // (a noise-aware image encoder); its trained module holds both encoders and CLIP's
  // learned temperature, logit_scale. In a diffusion description the text encoder
  // conditions the predictor (text_conditioned()).
  std::unique_ptr<TextEncoder> text_encoder;
  at::Tensor logit_scale;  // log of the contrastive logits' scale (a text-image description)
  // A text-conditioned predictor's embeddings of sampler.prompts [P, D] and of
  // sampler.negative_prompt [1, D] (zeros, the null condition, when it is unset).
  at::Tensor prompt_embeddings, negative_prompt_embedding;
  // A cross-attention predictor's token states and masks of sampler.prompts
  // ([P, L, W], [P, L]) and of the negative prompt (the empty prompt when unset) [1, L', W].
  TextEncoder::TokenStates prompt_tokens, negative_prompt_tokens;
  std::vector<double> times;  // the sampler's grid
  // Decided once by BuildPipeline from the sections present (KindOf).
  DescriptionKind kind = DescriptionKind::kDiffusion;
  // A diffusion description whose predictor reads prompts through its text encoder.
  bool text_conditioned() const {
    return kind == DescriptionKind::kDiffusion && text_encoder != nullptr;
  }

  // What training optimizes, averages and checkpoints: the predictor's network, or, with an
  // encoder, a module holding both as "predictor" and "encoder" (an autoencoder's:
  // "encoder" and "decoder"; a classifier description's: the classifier's network). Null
  // for analytic predictors.
  torch::nn::Module* trained_module() const { return trained_module_.get(); }
  std::shared_ptr<torch::nn::Module> trained_module_;

  SamplingComponents sampling() const;
  // Labels the predictor or any guidance term accepts.
  ConditionSupport label_support() const;
  // Labels for samples first .. first + count - 1 (sampler.labels round-robin, or every
  // class in turn for a class-conditional predictor); undefined when unconditional.
  at::Tensor LabelsFor(int64_t first, int64_t count) const;
  // Indices into sampler.prompts for samples first .. first + count - 1 (round-robin);
  // undefined when there are none.
  at::Tensor PromptsFor(int64_t first, int64_t count) const;
};

// Builds and checks `config`. The returned pipeline owns everything; components refer to
// each other, so it is not movable.
absl::StatusOr<std::unique_ptr<Pipeline>> BuildPipeline(const PipelineConfig& config);

// The deepest nesting of messages a description may have.
inline constexpr int kMaxDescriptionDepth = 64;

// Parses a text-format description; errors read "source:line:column: message" (nesting
// deeper than kMaxDescriptionDepth is one of them).
absl::StatusOr<PipelineConfig> ParsePipelineText(const std::string& text,
                                                 const std::string& source);
absl::StatusOr<PipelineConfig> LoadPipelineFile(const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_BUILDER_H_
