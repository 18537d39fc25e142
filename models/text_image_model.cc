#include "models/text_image_model.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "models/encoder.h"
#include "models/module_ops.h"
#include "pipeline/pipeline.pb.h"
#include "util/status_macros.h"

namespace diffuse {

TextImageModel::TextImageModel(std::unique_ptr<TrainedDescription> trained) : trained_(std::move(trained)) {
  FreezeModule(*trained_->trained_module());
}

TextImageModel::~TextImageModel() = default;

int64_t TextImageModel::embedding_dim() const { return trained_->text_encoder()->embedding_dim(); }
bool TextImageModel::noise_aware() const { return trained_->forward() != nullptr; }
TextEncoder& TextImageModel::text_encoder() { return *trained_->text_encoder(); }
const ForwardProcess* TextImageModel::forward() const { return trained_->forward(); }

at::Tensor TextImageModel::EmbedImages(const at::Tensor& x, const Time& t) {
  const at::ScalarType type = WeightsType(*trained_->trained_module());
  const at::Tensor e = trained_->encoder()->Encode(x.to(type), t).mean;
  return (e / e.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12)).to(x.scalar_type());
}

absl::StatusOr<std::unique_ptr<TextImageModel>> LoadTextImageModel(const std::string& path,
                                                                   const BuildContext& context,
                                                                   bool images_here) {
  ABSL_ASSIGN_OR_RETURN(const TrainedDescriptionLoader* loader, TrainedLoader(context));
  ABSL_ASSIGN_OR_RETURN(
      std::unique_ptr<TrainedDescription> trained,
      loader->LoadCheckpoint(path, [&](const PipelineConfig& config) -> absl::Status {
        if (!config.has_text_encoder() || config.has_predictor()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "checkpoint ", path, " was not trained from a text-image description (a "
              "text_encoder and an image encoder, no predictor)"));
        }
        if (config.text_encoder().name() == "trained_text_encoder") {  // would load itself
          return absl::InvalidArgumentError(absl::StrCat(
              "checkpoint ", path, ": its text encoder is itself a 'trained_text_encoder'"));
        }
        return absl::OkStatus();
      }));
  if (images_here) {
    ABSL_RETURN_IF_ERROR(loader->CheckReadsThisDescription(path, "embeds", *trained, context));
  }
  return std::make_unique<TextImageModel>(std::move(trained));
}

}  // namespace diffuse
