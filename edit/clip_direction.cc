// Edit loss "clip_direction": see ClipDirectionOptions in clip_direction.proto.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "edit/clip_direction.pb.h"
#include "edit/edit_loss.h"
#include "models/prompts.h"
#include "models/text_image_model.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class ClipDirection : public EditLoss {
 public:
  // direction [D]: E_text(target) - E_text(source).
  ClipDirection(std::unique_ptr<TextImageModel> model, at::Tensor direction, std::string target)
      : model_(std::move(model)), direction_(std::move(direction)), target_(std::move(target)) {}

  at::Tensor Loss(const at::Tensor& x_edit, const at::Tensor& x_orig) override {
    const at::Tensor change =
        model_->EmbedImages(x_edit, Time(0.0)) - model_->EmbedImages(x_orig, Time(0.0));
    const at::Tensor d = direction_.to(change.scalar_type());
    // cos with the image change's norm kept away from 0: at the start of an edit
    // x_edit = x_orig exactly.
    const at::Tensor cosine =
        change.matmul(d) / (change.norm(2, 1).clamp_min(1e-6) * d.norm().clamp_min(1e-12));
    return 1 - cosine;
  }

  std::string target_prompt() const override { return target_; }

 private:
  std::unique_ptr<TextImageModel> model_;
  at::Tensor direction_;
  std::string target_;
};

absl::StatusOr<std::unique_ptr<EditLoss>> Make(const ClipDirectionOptions& o,
                                               const BuildContext& context) {
  if (o.checkpoint().empty()) return absl::InvalidArgumentError("option checkpoint is required");
  for (const auto& [name, prompt] :
       {std::pair{"source_prompt", o.source_prompt()}, {"target_prompt", o.target_prompt()}}) {
    if (prompt.empty()) return absl::InvalidArgumentError(absl::StrCat("option ", name, " is required"));
  }
  if (o.source_prompt() == o.target_prompt()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "options source_prompt and target_prompt are both '", o.source_prompt(),
        "': the edit has no direction"));
  }
  absl::StatusOr<std::unique_ptr<TextImageModel>> model =
      LoadTextImageModel(o.checkpoint(), context, /*images_here=*/true);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("option checkpoint: ", model.status().message()));
  }
  if ((*model)->noise_aware()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "option checkpoint: ", o.checkpoint(),
        " is a noise-aware text-image model; the directional loss compares clean x0 "
        "estimates (train one without a forward section)"));
  }
  ABSL_ASSIGN_OR_RETURN(at::Tensor source, EmbedPrompts((*model)->text_encoder(),
                                                        {o.source_prompt()}, "option source_prompt"));
  ABSL_ASSIGN_OR_RETURN(at::Tensor target, EmbedPrompts((*model)->text_encoder(),
                                                        {o.target_prompt()}, "option target_prompt"));
  return std::unique_ptr<EditLoss>(
      new ClipDirection(*std::move(model), (target - source).squeeze(0), o.target_prompt()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(EditLoss, "clip_direction", ClipDirectionOptions, Make);

}  // namespace diffuse
