// Text encoder "trained_text_encoder": see trained_text_encoder.proto.
#include <memory>

#include "absl/strings/str_cat.h"
#include "models/text_encoder.h"
#include "models/text_image_model.h"
#include "models/trained_text_encoder.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class TrainedTextEncoder : public TextEncoder {
 public:
  explicit TrainedTextEncoder(std::unique_ptr<TextImageModel> model) : model_(std::move(model)) {}
  int64_t embedding_dim() const override { return model_->embedding_dim(); }
  absl::StatusOr<std::vector<int64_t>> Tokenize(absl::string_view text) const override {
    return model_->text_encoder().Tokenize(text);
  }
  at::Tensor Embed(const std::vector<std::vector<int64_t>>& tokens) override {
    return model_->text_encoder().Embed(tokens);
  }
  TokenStates EmbedTokens(const std::vector<std::vector<int64_t>>& tokens) override {
    return model_->text_encoder().EmbedTokens(tokens);
  }
  int64_t token_state_dim() const override { return model_->text_encoder().token_state_dim(); }
  // No module(): frozen (a text-image description naming it is refused as untrainable).

 private:
  std::unique_ptr<TextImageModel> model_;
};

absl::StatusOr<std::unique_ptr<TextEncoder>> Make(const TrainedTextEncoderOptions& o,
                                                  const BuildContext& context) {
  if (o.checkpoint().empty()) return absl::InvalidArgumentError("option checkpoint is required");
  absl::StatusOr<std::unique_ptr<TextImageModel>> model =
      LoadTextImageModel(o.checkpoint(), context, /*images_here=*/false);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("option checkpoint: ", model.status().message()));
  }
  return std::unique_ptr<TextEncoder>(new TrainedTextEncoder(*std::move(model)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TextEncoder, "trained_text_encoder", TrainedTextEncoderOptions, Make);

}  // namespace diffuse
