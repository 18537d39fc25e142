// What a description is, which follows from the sections it has. The builder decides it
// once (Pipeline::kind); verbs and the trainer read it as a value.
#ifndef DIFFUSE_PIPELINE_DESCRIPTION_KIND_H_
#define DIFFUSE_PIPELINE_DESCRIPTION_KIND_H_

#include "pipeline/pipeline.pb.h"

namespace diffuse {

enum class DescriptionKind {
  kDiffusion,    // data, forward, predictor, prior, reverse (+ encoder, text encoder, guidance)
  kAutoencoder,  // a decoder section: data, encoder, decoder (+ a prior over z)
  kClassifier,   // a classifier section: data, forward, the noisy classifier it trains
  kTextImage,    // a text_encoder without a predictor: data, image encoder, text encoder
};

inline DescriptionKind KindOf(const PipelineConfig& config) {
  if (config.has_decoder()) return DescriptionKind::kAutoencoder;
  if (config.has_classifier()) return DescriptionKind::kClassifier;
  if (config.has_text_encoder() && !config.has_predictor()) return DescriptionKind::kTextImage;
  return DescriptionKind::kDiffusion;
}

inline const char* DescriptionKindName(DescriptionKind kind) {
  switch (kind) {
    case DescriptionKind::kDiffusion: return "diffusion";
    case DescriptionKind::kAutoencoder: return "autoencoder";
    case DescriptionKind::kClassifier: return "classifier";
    case DescriptionKind::kTextImage: return "text-image";
  }
  return "unknown";
}

}  // namespace diffuse

#endif  // DIFFUSE_PIPELINE_DESCRIPTION_KIND_H_
