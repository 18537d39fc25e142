#include "models/text_image_model.h"

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/dataset.h"
#include "models/encoder.h"
#include "pipeline/builder.h"
#include "training/checkpoint.h"
#include "training/description_identity.h"
#include "training/trainer.h"
#include "util/status_macros.h"

namespace diffuse {

TextImageModel::TextImageModel(std::unique_ptr<Pipeline> trained) : trained_(std::move(trained)) {
  for (at::Tensor& param : trained_->trained_module()->parameters()) {
    param.set_requires_grad(false);
  }
}

TextImageModel::~TextImageModel() = default;

int64_t TextImageModel::embedding_dim() const { return trained_->text_encoder->embedding_dim(); }
bool TextImageModel::noise_aware() const { return trained_->forward != nullptr; }
TextEncoder& TextImageModel::text_encoder() { return *trained_->text_encoder; }
const ForwardProcess* TextImageModel::forward() const { return trained_->forward.get(); }

at::Tensor TextImageModel::EmbedImages(const at::Tensor& x, const Time& t) {
  const at::ScalarType type = trained_->trained_module()->parameters().front().scalar_type();
  const at::Tensor e = trained_->encoder->Encode(x.to(type), t).mean;
  return (e / e.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12)).to(x.scalar_type());
}

absl::StatusOr<std::unique_ptr<TextImageModel>> LoadTextImageModel(const std::string& path,
                                                                   const BuildContext& context,
                                                                   bool images_here) {
  ABSL_ASSIGN_OR_RETURN(std::string text, ReadCheckpointDescription(path));
  absl::StatusOr<PipelineConfig> config = ParsePipelineText(text, "its stored description");
  if (!config.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, ": ", config.status().message()));
  }
  if (!config->has_text_encoder() || config->has_predictor()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", path, " was not trained from a text-image description (a text_encoder "
        "and an image encoder, no predictor)"));
  }
  if (config->text_encoder().name() == "trained_text_encoder") {  // would load itself again
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", path, ": its text encoder is itself a 'trained_text_encoder'"));
  }
  absl::StatusOr<std::unique_ptr<Pipeline>> trained = BuildPipeline(*config);
  if (!trained.ok()) {
    return absl::Status(trained.status().code(),
                        absl::StrCat("checkpoint ", path, ": its description: ",
                                     trained.status().message()));
  }
  if (images_here) {
    const std::vector<int64_t> shape = (*trained)->data->sample_shape();
    if (shape != context.data->sample_shape()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, " embeds images of shape [", absl::StrJoin(shape, ", "),
          "]; data '", context.config->data().name(), "' has [",
          absl::StrJoin(context.data->sample_shape(), ", "), "]"));
    }
    // A noise-aware encoder's x_t must mean the same noise level here.
    if (config->has_forward()) {
      PipelineConfig theirs, ours;
      *theirs.mutable_forward() = config->forward();
      *ours.mutable_forward() = context.config->forward();
      if (const std::string difference =
              DescriptionDifference(theirs, ours, CheckpointUse::kWeights);
          !difference.empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "checkpoint ", path, " embeds x_t of another forward process: ", difference));
      }
    }
  }
  ABSL_RETURN_IF_ERROR(LoadWeightsForSampling(**trained, path));
  return std::make_unique<TextImageModel>(std::move(trained).value());
}

}  // namespace diffuse
