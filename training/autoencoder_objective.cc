// The "autoencoder_elbo" objective (Kingma & Welling 2014, eq. 3; seed 000's VAE): the
// negative ELBO -log p(x0 | z) + kl KL(q(z | x0) || N(0, I)) (+ InfoDiffusion's
// mmd MMD^2(q(z), N(0, I))), z drawn from q(z | x0) by reparameterization.
#include <memory>

#include <ATen/TensorOperators.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "models/decoder.h"
#include "models/encoder.h"
#include "models/gaussian_latent.h"
#include "pipeline/registry.h"
#include "training/objective.h"
#include "training/objective_parts.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class AutoencoderObjective : public TrainingObjective {
 public:
  AutoencoderObjective(const TrainingComponents& c, const LatentRegularizer& latent)
      : c_(c), latent_(latent) {}

  std::vector<std::string> TermNames() const override {
    std::vector<std::string> names = {"reconstruction_nll", "reconstruction_mse"};
    AddLatentTermNames(latent_, &names);
    return names;
  }
  size_t StepTermCount() const override { return TermNames().size(); }
  absl::Status CheckDataParallel(int world_size) const override {
    return CheckLatentDataParallel(latent_, world_size);
  }

  absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) override {
    const LatentDraw latent = EncodeLatent(step, *c_.encoder, step.x0, Time(0.0), latent_);
    const ObservationModel px = c_.decoder->Decode(latent.z);
    const at::Tensor nll = GaussianNegativeLogLikelihood(step.x0, px.mean, px.log_std).mean();
    ObjectiveValue value;
    value.terms = {nll.detach(), (step.x0 - px.mean).square().mean().detach()};
    value.loss = AddLatentTerms(nll, latent, latent_, &value.terms);
    return value;
  }

  void Report(const std::vector<double>& means, std::vector<std::string>* fields,
              std::string* line) const override {
    fields->push_back(absl::StrFormat("%.6f", means[0]));
    fields->push_back(absl::StrFormat("%.6f", means[1]));
    *line = absl::StrFormat(" (reconstruction %.2f nats, MSE %.5f", means[0], means[1]);
    size_t i = 2;
    ReportLatentTerms(latent_, means, &i, fields, line);
    *line += ")";
  }

 private:
  const TrainingComponents c_;
  const LatentRegularizer latent_;
};

absl::StatusOr<std::unique_ptr<TrainingObjective>> MakeAutoencoderObjective(
    const NoOptions&, const TrainingComponents& c) {
  const TrainingOptions& o = c.config->training();
  if (c.encoder == nullptr || c.decoder == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the autoencoder's ELBO needs encoder and decoder sections (this is a ",
        DescriptionKindName(c.kind), " description)"));
  }
  absl::StatusOr<LatentRegularizer> latent = LatentRegularizerOf(*c.config, c.encoder);
  if (!latent.ok()) return latent.status();
  ABSL_RETURN_IF_ERROR(RefuseLossWeighting(o, "an autoencoder has none"));
  if (o.condition_dropout() != 0) {
    return absl::InvalidArgumentError("training.condition_dropout: an autoencoder takes no labels");
  }
  return std::make_unique<AutoencoderObjective>(c, *latent);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "autoencoder_elbo", NoOptions,
                           MakeAutoencoderObjective);

}  // namespace diffuse
