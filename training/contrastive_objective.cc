// The "contrastive" objective (Radford et al. 2021, CLIP, fig. 3): the symmetric
// cross-entropy over the batch's image-caption similarities, logits = exp(logit_scale)
// <e_image / |e_image|, e_text>, with every example of an identical caption a positive
// (short captions repeat). With a forward section the images are x_t (a noise-aware image
// encoder, for guidance at every t).
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/ops/log_softmax.h>
#include <ATen/ops/tensor.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "models/encoder.h"
#include "models/text_encoder.h"
#include "pipeline/registry.h"
#include "training/objective.h"
#include "training/objective_parts.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class ContrastiveObjective : public TrainingObjective {
 public:
  explicit ContrastiveObjective(const TrainingComponents& c) : c_(c) {}

  std::vector<std::string> TermNames() const override { return {"accuracy"}; }
  size_t StepTermCount() const override { return 1; }
  absl::Status CheckDataParallel(int world_size) const override {
    if (world_size == 1) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "a text-image description: the contrastive loss compares every image with every "
        "caption of the whole batch, which a data-parallel run would split; run it in one "
        "process");
  }

  absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) override {
    TrainingExample example;
    example.x0 = step.x0;
    if (c_.forward != nullptr) example = Corrupt(step, *c_.forward, 0, 0, nullptr);
    const CaptionDraw captions = DrawCaptions(step, *c_.data, *c_.text_encoder,
                                              c_.config->training().caption_word_dropout());
    const at::Tensor image = c_.forward != nullptr ? example.x_t : example.x0;
    const at::Tensor e_image =
        c_.encoder->Encode(image, c_.forward != nullptr ? example.t : Time(0.0)).mean;
    const at::Tensor e_text = c_.text_encoder->Embed(captions.tokens);
    const at::Tensor logits =
        c_.logit_scale.exp().clamp_max(100) *
        (e_image / e_image.norm(2, 1, true).clamp_min(1e-12)).matmul(e_text.t());
    const int64_t n = step.shard_size;
    std::vector<float> equal(n * n);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < n; ++j) equal[i * n + j] = captions.text[i] == captions.text[j];
    }
    const at::Tensor same = at::tensor(equal, at::kFloat).view({n, n}).to(logits.scalar_type());
    const at::Tensor targets = same / same.sum(1, true);  // symmetric: rows = columns
    ObjectiveValue value;
    value.loss = -0.5 * ((targets * at::log_softmax(logits, 1)).sum(1).mean() +
                         (targets * at::log_softmax(logits, 0)).sum(0).mean());
    value.terms = {same.gather(1, logits.detach().argmax(1, true)).mean()};
    return value;
  }

  void Report(const std::vector<double>& means, std::vector<std::string>* fields,
              std::string* line) const override {
    ReportAccuracy(means[0], fields, line);
  }

 private:
  const TrainingComponents c_;
};

absl::StatusOr<std::unique_ptr<TrainingObjective>> MakeContrastiveObjective(
    const NoOptions&, const TrainingComponents& c) {
  const TrainingOptions& o = c.config->training();
  if (c.encoder == nullptr || c.text_encoder == nullptr || !c.logit_scale.defined() ||
      c.data->captioner() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the contrastive loss needs an image encoder, a text encoder and captioned data "
        "(this is a ", DescriptionKindName(c.kind), " description)"));
  }
  if (o.batch_size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.batch_size = ", o.batch_size(), ": the contrastive loss compares each "
        "image with the batch's other captions (at least 2)"));
  }
  ABSL_RETURN_IF_ERROR(RefuseLossWeighting(o, "a text-image model is trained by the contrastive loss"));
  if (o.condition_dropout() != 0) {
    return absl::InvalidArgumentError(
        "training.condition_dropout: a text-image model takes no labels (caption_word_dropout "
        "drops caption words)");
  }
  if (o.latent_kl_weight() != 0 || o.has_info_diffusion()) {
    return absl::InvalidArgumentError(
        "training.latent_kl_weight, info_diffusion: a text-image model's embeddings have no "
        "prior");
  }
  return std::make_unique<ContrastiveObjective>(c);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "contrastive", NoOptions, MakeContrastiveObjective);

}  // namespace diffuse
