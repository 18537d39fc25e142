#include "training/objective_parts.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/zeros.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/captioner.h"
#include "data/dataset.h"
#include "forward/forward_process.h"
#include "models/encoder.h"
#include "models/gaussian_latent.h"
#include "models/latent_prior.h"
#include "models/prompts.h"
#include "models/text_encoder.h"
#include "random/noise_source.h"

namespace diffuse {

TrainingExample Corrupt(const ObjectiveStep& step, const ForwardProcess& forward,
                        int64_t num_classes, double label_dropout, LatentPrior* image_source) {
  const DataBatch& data = *step.data;
  const int64_t batch = data.x.size(0);
  const TimeDomain domain = forward.time_domain();
  const at::Tensor t =
      domain.discrete
          ? at::randint(1, domain.num_steps + 1, {batch}, *step.generator, at::kLong)
                .to(at::kDouble)
          : 1.0 - at::rand({batch}, *step.generator, at::kDouble);
  at::Tensor eps = forward.SampleNoise(data.x.sizes(), *step.noise);
  if (at::isFloatingType(eps.scalar_type())) eps = eps.to(step.dtype);
  at::Tensor label;
  if (num_classes > 0) {
    label = data.label;
    if (label_dropout > 0) {
      const at::Tensor drop = at::rand({batch}, *step.generator).lt(label_dropout);
      label = data.label.masked_fill(drop, Condition::kNullLabel);
    }
  }
  TrainingExample example;
  example.x0 = step.x0;
  example.eps = step.Shard(eps);
  example.t = Time(step.Shard(t));
  if (image_source != nullptr) example.condition.image = image_source->TrainingImage(example.x0);
  const at::Tensor offset = forward.Offset(example.condition);
  example.x_t = offset.defined()
                    ? offset + forward.Apply(example.x0 - offset, example.t, example.eps)
                    : forward.Apply(example.x0, example.t, example.eps);
  if (label.defined()) example.condition.label = step.Shard(label);
  return example;
}

CaptionDraw DrawCaptions(const ObjectiveStep& step, const Dataset& data,
                         const TextEncoder& encoder, double word_dropout) {
  const std::vector<std::string> all =
      DropWords(step.data->captions.empty()
                    ? data.captioner()->Caption(step.data->x, step.data->label)
                    : step.data->captions,
                word_dropout, *step.generator);
  CaptionDraw captions;
  captions.text.assign(all.begin() + step.shard_begin,
                       all.begin() + step.shard_begin + step.shard_size);
  // The captioner writes only vocabulary words, which the encoder was built from.
  for (const std::string& caption : captions.text) {
    captions.tokens.push_back(encoder.Tokenize(caption).value());
  }
  return captions;
}

absl::StatusOr<LatentRegularizer> LatentRegularizerOf(const PipelineConfig& config,
                                                      const Encoder* encoder) {
  const TrainingOptions& o = config.training();
  if (!(o.latent_kl_weight() >= 0 && o.latent_kl_weight() <= 1e6)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.latent_kl_weight = ", o.latent_kl_weight(), " must be in [0, 1e6]"));
  }
  const bool gaussian = encoder != nullptr && encoder->gaussian();
  LatentRegularizer regularizer;
  regularizer.kl = o.latent_kl_weight();
  regularizer.log_kl = gaussian;
  if (o.has_info_diffusion()) {
    const InfoDiffusionOptions& info = o.info_diffusion();
    const double zeta = info.mutual_information_weight(), lambda = info.prior_weight();
    if (encoder == nullptr) {
      return absl::InvalidArgumentError("training.info_diffusion needs an encoder section");
    }
    if (o.latent_kl_weight() != 0) {
      return absl::InvalidArgumentError(
          "training.latent_kl_weight and info_diffusion both weight the KL term; set one");
    }
    if (!(zeta >= 0 && zeta <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training.info_diffusion.mutual_information_weight = ", zeta, " must be in [0, 1]"));
    }
    if (!(lambda >= 0 && lambda <= 1e6) || !(zeta + lambda - 1 > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training.info_diffusion.prior_weight = ", lambda,
          " must be in [0, 1e6] with mutual_information_weight + prior_weight - 1 > 0 (the "
          "MMD coefficient)"));
    }
    if (zeta < 1 && !gaussian) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training.info_diffusion.mutual_information_weight = ", zeta,
          " < 1 keeps a KL term, which needs a Gaussian encoder ('", config.encoder().name(),
          "' with gaussian: true)"));
    }
    regularizer.kl = 1 - zeta;
    regularizer.mmd = zeta + lambda - 1;
    regularizer.kernel = info.kernel() == InfoDiffusionOptions::RBF
                             ? MmdKernel::kRbf
                             : MmdKernel::kInverseMultiquadric;
  } else if (gaussian && !(o.latent_kl_weight() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.latent_kl_weight must be > 0: encoder '", config.encoder().name(),
        "' is Gaussian, and without the KL term (or info_diffusion's MMD) nothing ties "
        "q(z | x0) to the prior N(0, I) that generation draws z from"));
  }
  return regularizer;
}

absl::Status CheckLatentDataParallel(const LatentRegularizer& regularizer, int world_size) {
  if (regularizer.mmd > 0 && world_size > 1) {
    return absl::FailedPreconditionError(
        "training.info_diffusion: the MMD term is a statistic of the whole batch, which a "
        "data-parallel run would estimate per rank; run it in one process");
  }
  return absl::OkStatus();
}

LatentDraw EncodeLatent(const ObjectiveStep& step, Encoder& encoder, const at::Tensor& x0,
                        const Time& t, const LatentRegularizer& regularizer) {
  const int64_t batch = step.data->x.size(0);
  const LatentPosterior q = encoder.Encode(x0, t);
  const int64_t width = q.mean.size(1);
  LatentDraw draw;
  at::Tensor eps_z;
  if (q.log_variance.defined()) {
    eps_z = step.Shard(at::randn({batch, width}, *step.generator).to(step.dtype));
    draw.kl = KlToStandardNormal(q);
  }
  draw.z = Reparameterize(q, eps_z);
  if (regularizer.mmd > 0) {
    const at::Tensor prior_z = step.Shard(at::randn({batch, width}, *step.generator).to(step.dtype));
    draw.mmd = MmdSquared(draw.z, prior_z, regularizer.kernel);
  }
  return draw;
}

at::Tensor AddLatentTerms(const at::Tensor& main, const LatentDraw& draw,
                          const LatentRegularizer& regularizer, std::vector<at::Tensor>* terms) {
  const at::Tensor zero = at::zeros({}, main.options());
  const at::Tensor mean_kl = draw.kl.defined() ? draw.kl.mean() : zero;
  const at::Tensor mmd = draw.mmd.defined() ? draw.mmd : zero;
  if (regularizer.log_kl) terms->push_back(mean_kl.detach());
  if (regularizer.log_mmd()) terms->push_back(mmd.detach());
  return main + regularizer.kl * mean_kl + regularizer.mmd * mmd;
}

void AddLatentTermNames(const LatentRegularizer& regularizer, std::vector<std::string>* names) {
  if (regularizer.log_kl) names->push_back("latent_kl");
  if (regularizer.log_mmd()) names->push_back("latent_mmd");
}

void ReportLatentTerms(const LatentRegularizer& regularizer, const std::vector<double>& means,
                       size_t* index, std::vector<std::string>* fields, std::string* line) {
  if (regularizer.log_kl) {
    fields->push_back(absl::StrFormat("%.6f", means[*index]));
    *line += absl::StrFormat(", KL %.3f nats", means[(*index)++]);
  }
  if (regularizer.log_mmd()) {
    fields->push_back(absl::StrFormat("%.6f", means[*index]));
    *line += absl::StrFormat(", MMD^2 %.4f", means[(*index)++]);
  }
}

absl::Status RefuseLossWeighting(const TrainingOptions& o, const std::string& why) {
  if (o.loss_weighting() == TrainingOptions::PLAIN) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "training.loss_weighting ", TrainingOptions::LossWeighting_Name(o.loss_weighting()),
      " weights a diffusion loss; ", why, " (PLAIN)"));
}

void ReportAccuracy(double accuracy, std::vector<std::string>* fields, std::string* line) {
  fields->push_back(absl::StrFormat("%.6f", accuracy));
  *line = absl::StrFormat(" (accuracy %.3f)", accuracy);
}

}  // namespace diffuse
