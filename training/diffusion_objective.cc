// Ho et al. 2020 (eq. 14, the simplified loss) in the predictor's parameterization, with the
// weightings of Hang et al. 2023 (Min-SNR) and the unified framework (seed 002), and the
// seed 000 latent terms: loss = weighted diffusion loss + kl KL(q(z | x0) || N(0, I))
// + mmd MMD^2(q(z), N(0, I)).
#include "training/diffusion_objective.h"

#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/zeros.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/dataset.h"
#include "forward/gaussian.h"
#include "models/encoder.h"
#include "models/gaussian_latent.h"
#include "models/latent_prior.h"
#include "models/text_encoder.h"
#include "models/x0_predictor.h"
#include "pipeline/registry.h"
#include "training/objective.h"
#include "training/objective_parts.h"

namespace diffuse {

at::Tensor LossWeights(const TrainingOptions& o, const ForwardProcess& forward,
                       TrainableModel& model, const Time& t, int64_t batch) {
  if (o.loss_weighting() == TrainingOptions::PLAIN) return at::ones({batch});
  const GaussianCoefficients& g = *forward.gaussian();
  const at::Tensor alpha = AlphaTensor(g, t).expand({batch});
  const at::Tensor sigma = SigmaTensor(g, t).expand({batch});
  at::Tensor x0_weight;
  if (o.loss_weighting() == TrainingOptions::MIN_SNR) {
    x0_weight = (alpha / sigma).pow(2).clamp_max(o.min_snr_gamma());
  } else {
    const double sd2 = o.sigma_data() * o.sigma_data();
    const at::Tensor sigma_bar2 = sd2 * sigma * sigma / (alpha * alpha * sd2 + sigma * sigma);
    x0_weight = 0.5 / sigma_bar2;
  }
  return (x0_weight / model.X0LossScale(t, batch)).to(at::kFloat);
}

namespace {

class DiffusionObjective : public TrainingObjective {
 public:
  DiffusionObjective(const TrainingComponents& c, const LatentRegularizer& latent)
      : c_(c), o_(c.config->training()), model_(*c.predictor->trainable()), latent_(latent) {
    // DiffuseVAE: each example takes the prior's x_hat, as the predictor's image input
    // (form 1) or the shifted forward's centre (form 2).
    if (c.prior->supplies_training_image() &&
        (c.predictor->conditions().image_channels > 0 || c.forward->HasOffset())) {
      image_source_ = c.prior;
    }
    // The ELBO's prior term KL(q(x_T | x0) || N(0, I)) (logged, not optimized) in the seed's
    // latent framework, with a Gaussian forward process that starts at N(0, I); with it the
    // ELBO's other two terms where assembly/elbo.h reads the description.
    if ((latent.log_kl || latent.log_mmd()) && c.forward->gaussian() != nullptr &&
        !c.forward->HasOffset() && c.prior->starts_at_standard_normal()) {
      const double t_max = c.forward->time_domain().t_max();
      log_prior_kl_ = true;
      terminal_alpha_ = c.forward->gaussian()->Alpha(t_max);
      terminal_sigma_ = c.forward->gaussian()->Sigma(t_max);
      log_elbo_ = static_cast<bool>(c.elbo);
    }
  }

  std::vector<std::string> TermNames() const override {
    std::vector<std::string> names;
    if (latent_.log_kl || latent_.log_mmd()) names.push_back("diffusion_loss");
    AddLatentTermNames(latent_, &names);
    if (log_prior_kl_) names.push_back("prior_kl");
    if (log_elbo_) {
      names.push_back("diffusion_reconstruction");
      names.push_back("denoising");
    }
    return names;
  }
  size_t StepTermCount() const override { return TermNames().size() - (log_elbo_ ? 2 : 0); }

  absl::Status Prepare() override {
    return image_source_ != nullptr ? image_source_->PrepareForSampling() : absl::OkStatus();
  }
  absl::Status CheckDataParallel(int world_size) const override {
    return CheckLatentDataParallel(latent_, world_size);
  }
  bool reads_trained_prior() const override { return image_source_ != nullptr; }

  absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) override {
    TrainingExample example = Corrupt(step, *c_.forward, c_.predictor->conditions().num_classes,
                                      o_.condition_dropout(), image_source_);
    if (c_.text_encoder != nullptr) {
      // The frozen text encoder's embedding of each caption; zero (the null condition) for
      // the examples condition dropout drops.
      const CaptionDraw captions =
          DrawCaptions(step, *c_.data, *c_.text_encoder, o_.caption_word_dropout());
      at::Tensor keep = at::ones({step.data->x.size(0)}, at::kBool);
      if (o_.condition_dropout() > 0) {
        keep = at::rand({step.data->x.size(0)}, *step.generator).ge(o_.condition_dropout());
      }
      at::NoGradGuard no_grad;
      const ConditionSupport reads = c_.predictor->conditions();
      const at::Tensor kept = step.Shard(keep);
      if (reads.latent_dim > 0) {
        example.condition.latent = c_.text_encoder->Embed(captions.tokens).to(step.dtype) *
                                   kept.to(step.dtype).view({-1, 1});
      }
      if (reads.context_dim > 0) {
        // A dropped caption becomes the empty prompt, cross-attention's null condition.
        std::vector<std::vector<int64_t>> tokens = captions.tokens;
        const bool* k = kept.data_ptr<bool>();
        for (size_t i = 0; i < tokens.size(); ++i) {
          if (!k[i]) tokens[i].clear();
        }
        TextEncoder::TokenStates states = c_.text_encoder->EmbedTokens(tokens);
        example.condition.context = states.states.to(step.dtype);
        example.condition.context_mask = states.mask;
      }
    }
    // Joint training (Diffusion Autoencoders): the predictor sees z = E(x0), and the loss
    // trains the encoder through it.
    LatentDraw latent;
    if (c_.encoder != nullptr) {
      latent = EncodeLatent(step, *c_.encoder, example.x0, example.t, latent_);
      example.condition.latent = latent.z;
    }
    at::Tensor per_example = model_.Loss(example);
    if (o_.loss_weighting() != TrainingOptions::PLAIN) {
      per_example = per_example *
                    LossWeights(o_, *c_.forward, model_, example.t, step.shard_size).to(step.dtype);
    }
    const at::Tensor main = per_example.mean();
    ObjectiveValue value;
    if (latent_.log_kl || latent_.log_mmd()) value.terms.push_back(main.detach());
    value.loss = AddLatentTerms(main, latent, latent_, &value.terms);
    if (log_prior_kl_) {
      value.terms.push_back(
          DiffusionPriorKl(example.x0.detach(), terminal_alpha_, terminal_sigma_).mean());
    }
    return value;
  }

  absl::StatusOr<std::vector<double>> LoggingStepTerms(const at::Tensor& x0,
                                                       int64_t steps_taken) override {
    if (!log_elbo_) return std::vector<double>{};
    absl::StatusOr<std::pair<double, double>> elbo =
        c_.elbo(x0.detach(), o_.seed() * 1000003 + steps_taken);
    if (!elbo.ok()) return elbo.status();
    return std::vector<double>{elbo->first, elbo->second};
  }

  void Report(const std::vector<double>& means, std::vector<std::string>* fields,
              std::string* line) const override {
    if (means.empty()) return;
    size_t i = 0;
    fields->push_back(absl::StrFormat("%.6f", means[i]));
    *line = absl::StrFormat(" (diffusion %.4f", means[i++]);
    ReportLatentTerms(latent_, means, &i, fields, line);
    if (log_prior_kl_) {
      // %g: near N(0, I) the term is orders of magnitude below a nat.
      fields->push_back(absl::StrFormat("%.6g", means[i]));
      *line += absl::StrFormat(", prior KL %.3g nats", means[i++]);
    }
    if (log_elbo_) {
      fields->push_back(absl::StrFormat("%.4f", means[i]));
      fields->push_back(absl::StrFormat("%.4f", means[i + 1]));
      *line += absl::StrFormat(", ELBO reconstruction %.1f, denoising %.1f nats", means[i],
                               means[i + 1]);
    }
    *line += ")";
  }

 private:
  const TrainingComponents c_;
  const TrainingOptions& o_;
  TrainableModel& model_;
  const LatentRegularizer latent_;
  LatentPrior* image_source_ = nullptr;
  bool log_prior_kl_ = false, log_elbo_ = false;
  double terminal_alpha_ = 0, terminal_sigma_ = 1;
};

absl::StatusOr<std::unique_ptr<TrainingObjective>> MakeDiffusionObjective(
    const NoOptions&, const TrainingComponents& c) {
  const TrainingOptions& o = c.config->training();
  const PipelineConfig& config = *c.config;
  absl::StatusOr<LatentRegularizer> latent = LatentRegularizerOf(config, c.encoder);
  if (!latent.ok()) return latent.status();
  if (c.predictor == nullptr || c.forward == nullptr || c.prior == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the diffusion loss needs forward, predictor and prior sections (this is a ",
        DescriptionKindName(c.kind), " description)"));
  }
  if (o.loss_weighting() != TrainingOptions::PLAIN && c.forward->gaussian() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "training.loss_weighting ", TrainingOptions::LossWeighting_Name(o.loss_weighting()),
        " needs Gaussian coefficients; forward '", config.forward().name(), "' has none"));
  }
  if (c.predictor->trainable() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", config.predictor().name(), "' has no trainable network"));
  }
  if (c.forward->HasOffset() && !c.prior->supplies_training_image()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "forward '", config.forward().name(), "' offsets x by x_hat, which prior '",
        config.prior().name(), "' does not supply for training (DiffuseVAE form 2: prior "
        "\"diffused_estimate\" with estimate VAE and estimate_as_condition)"));
  }
  if (const int64_t channels = c.predictor->conditions().image_channels;
      channels > 0 && !c.prior->supplies_training_image()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", config.predictor().name(), "' is conditioned on an image (image_channels = ",
        channels, ") that prior '", config.prior().name(),
        "' does not supply for training (DiffuseVAE: prior \"diffused_estimate\" with estimate "
        "VAE and estimate_as_condition)"));
  }
  return std::make_unique<DiffusionObjective>(c, *latent);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TrainingObjective, "diffusion", NoOptions, MakeDiffusionObjective);

}  // namespace diffuse
