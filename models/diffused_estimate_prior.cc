// Prior "diffused_estimate": see diffused_estimate_prior.proto.
#include <memory>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/eye.h>
#include <ATen/ops/linalg_cholesky.h>
#include <ATen/ops/matmul.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/dataset.h"
#include "models/decoder.h"
#include "models/diffused_estimate_prior.pb.h"
#include "models/encoder.h"
#include "models/latent_prior.h"
#include "models/module_ops.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "pipeline/trained_description.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class DiffusedEstimatePrior : public LatentPrior {
 public:
  DiffusedEstimatePrior(const ForwardProcess& forward, const DiffusedEstimatePriorOptions& o,
                        std::vector<int64_t> sample_shape, DataBatch pool,
                        const TrainedDescriptionLoader* loader)
      : forward_(forward),
        loader_(loader),
        options_(o),
        estimate_(o.estimate()),
        as_condition_(o.estimate_as_condition()),
        sample_shape_(std::move(sample_shape)),
        pool_(std::move(pool.x)),
        pool_labels_(std::move(pool.label)) {
    if (estimate_ == DiffusedEstimatePriorOptions::GAUSSIAN_FIT) {
      const at::Tensor flat = pool_.flatten(1).to(at::kDouble);
      mean_ = flat.mean(0);
      const at::Tensor centred = flat - mean_;
      const at::Tensor cov = at::matmul(centred.t(), centred) / (flat.size(0) - 1);
      // A small ridge keeps the factor defined for degenerate data (constant pixels).
      cholesky_ = at::linalg_cholesky(cov + 1e-6 * at::eye(cov.size(0), at::kDouble));
    }
  }

  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    if (forward.HasOffset() && !as_condition_) {
      return absl::FailedPreconditionError(
          "the forward process is offset by x_hat (shifted): set estimate_as_condition so the "
          "estimate is passed on as x_hat");
    }
    return absl::OkStatus();
  }

  absl::Status PrepareForSampling() override {
    if (estimate_ != DiffusedEstimatePriorOptions::VAE || vae_ != nullptr) return absl::OkStatus();
    const std::string& path = options_.vae_pipeline();
    auto named = [&](const absl::Status& status) {
      return absl::Status(status.code(), absl::StrCat("prior 'diffused_estimate': option ",
                                                      "vae_pipeline: ", status.message()));
    };
    absl::StatusOr<PipelineConfig> config = loader_->ReadDescriptionFile(path);
    if (!config.ok()) return named(config.status());
    absl::StatusOr<std::unique_ptr<TrainedDescription>> vae = loader_->Build(*config);
    if (!vae.ok()) return named(absl::Status(vae.status().code(), absl::StrCat(path, ": ", vae.status().message())));
    if ((*vae)->decoder() == nullptr) {
      return named(absl::InvalidArgumentError(
          absl::StrCat(path, " is not an autoencoder description (it has no decoder)")));
    }
    if ((*vae)->sample_shape() != sample_shape_) {
      return named(absl::InvalidArgumentError(absl::StrCat(
          path, " decodes samples of shape [", absl::StrJoin((*vae)->sample_shape(), ", "),
          "], this pipeline's are [", absl::StrJoin(sample_shape_, ", "), "]")));
    }
    if (absl::Status loaded = loader_->LoadWeights(**vae, options_.vae_checkpoint());
        !loaded.ok()) {
      return absl::Status(loaded.code(), absl::StrCat("prior 'diffused_estimate': option "
                                                      "vae_checkpoint: ", loaded.message()));
    }
    // A VAE with a model of its codes (latent diffusion) starts from that model's z. Only
    // sampling needs it (DiffuseVAE's training uses encoder and decoder alone), so a missing
    // second stage is reported when a start is drawn.
    if ((*vae)->prior() != nullptr) {
      if (absl::Status ready = (*vae)->prior()->PrepareForSampling(); !ready.ok()) {
        vae_prior_error_ = absl::StrCat("prior 'diffused_estimate': option vae_pipeline: ", path,
                                        ": ", ready.message());
      }
    }
    ConvertModule(*(*vae)->trained_module(), at::kFloat);
    vae_ = std::move(vae).value();
    return absl::OkStatus();
  }

  bool supplies_training_image() const override {
    return estimate_ == DiffusedEstimatePriorOptions::VAE && as_condition_;
  }

  // DiffuseVAE's x_hat for training: the VAE's reconstruction D(mean of q(z | x0)).
  at::Tensor TrainingImage(const at::Tensor& x0) override {
    TORCH_CHECK(vae_ != nullptr, "prior 'diffused_estimate' used before PrepareForSampling");
    at::NoGradGuard no_grad;
    const LatentPosterior q = vae_->encoder()->Encode(x0.to(at::kFloat), Time(0.0));
    return vae_->decoder()->Decode(q.mean).mean.to(x0.scalar_type());
  }

  PriorSample Sample(int64_t batch, at::IntArrayRef sample_shape, NoiseSource& noise) override {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
    at::Tensor x0;
    Condition condition;
    if (estimate_ == DiffusedEstimatePriorOptions::DATA_SAMPLES) {
      const at::Tensor index = (noise.Uniform({batch}).to(at::kDouble) * pool_.size(0))
                                   .to(at::kLong)
                                   .clamp_max(pool_.size(0) - 1);
      x0 = pool_.index_select(0, index);
      // Conditional predictors then refine each start towards its own class.
      if (pool_labels_.defined()) condition.label = pool_labels_.index_select(0, index);
    } else if (estimate_ == DiffusedEstimatePriorOptions::VAE) {
      TORCH_CHECK(vae_ != nullptr, "prior 'diffused_estimate' used before PrepareForSampling");
      at::NoGradGuard no_grad;
      // z on the sample's own stream, before its diffusion noise: N(0, I), or the VAE's
      // model of its codes.
      TORCH_CHECK(vae_prior_error_.empty(), vae_prior_error_);
      const at::Tensor z =
          vae_->prior() != nullptr
              ? vae_->prior()->Sample(batch, sample_shape, noise).condition.latent
              : noise.Normal({batch, vae_->decoder()->latent_dim()});
      x0 = vae_->decoder()->Decode(z).mean;
    } else {
      const at::Tensor z = noise.Normal({batch, mean_.size(0)}).to(at::kDouble);
      x0 = (mean_ + at::matmul(z, cholesky_.t())).to(at::kFloat).view(shape);
    }
    if (as_condition_) condition.image = x0;
    const double t_max = forward_.time_domain().t_max();
    const at::Tensor eps = forward_.SampleNoise(shape, noise);
    // An offset process (forward "shifted") diffuses the residual x0 - c.
    const at::Tensor offset = forward_.Offset(condition);
    if (!offset.defined()) return {forward_.Apply(x0, t_max, eps), condition};
    return {offset + forward_.Apply(x0 - offset, t_max, eps), condition};
  }

 private:
  const ForwardProcess& forward_;
  const TrainedDescriptionLoader* loader_;  // VAE: what loads the autoencoder
  DiffusedEstimatePriorOptions options_;
  DiffusedEstimatePriorOptions::Estimate estimate_;
  bool as_condition_;
  std::vector<int64_t> sample_shape_;
  std::unique_ptr<TrainedDescription> vae_;  // VAE: the autoencoder, loaded by PrepareForSampling
  std::string vae_prior_error_;    // why its model of z could not be loaded, if it has one
  at::Tensor pool_, pool_labels_;
  at::Tensor mean_, cholesky_;
};

absl::StatusOr<std::unique_ptr<LatentPrior>> Make(const DiffusedEstimatePriorOptions& o,
                                                  const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("pool_size", o.pool_size(), 2, 1000000));
  if (context.forward == nullptr) {
    return absl::FailedPreconditionError(
        "diffuses an estimate of x0 by the forward process; this description has none");
  }
  if (o.estimate() != DiffusedEstimatePriorOptions::DATA_SAMPLES &&
      context.data->num_token_classes() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option estimate ", DiffusedEstimatePriorOptions::Estimate_Name(o.estimate()),
        " needs real-valued data; data '", context.config->data().name(),
        "' is tokens (use DATA_SAMPLES)"));
  }
  const bool vae = o.estimate() == DiffusedEstimatePriorOptions::VAE;
  if (vae && (o.vae_pipeline().empty() || o.vae_checkpoint().empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option estimate VAE needs option ", o.vae_pipeline().empty() ? "vae_pipeline" : "vae_checkpoint",
        " (the autoencoder's description and its `diffuse train` checkpoint)"));
  }
  if (!vae && (!o.vae_pipeline().empty() || !o.vae_checkpoint().empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "options vae_pipeline and vae_checkpoint apply to estimate VAE, not ",
        DiffusedEstimatePriorOptions::Estimate_Name(o.estimate())));
  }
  const TrainedDescriptionLoader* loader = nullptr;
  if (vae) {
    ABSL_ASSIGN_OR_RETURN(loader, TrainedLoader(context));
  }
  // The pool feeds DATA_SAMPLES and GAUSSIAN_FIT; the VAE needs none.
  DataBatch pool;
  if (!vae) {
    at::Generator generator = at::detail::createCPUGenerator(o.seed());
    pool = context.data->Sample(o.pool_size(), generator);
  }
  return std::unique_ptr<LatentPrior>(
      new DiffusedEstimatePrior(*context.forward, o, context.data->sample_shape(), std::move(pool),
                                loader));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(LatentPrior, "diffused_estimate", DiffusedEstimatePriorOptions, Make);

}  // namespace diffuse
