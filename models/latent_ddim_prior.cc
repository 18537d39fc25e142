#include "models/latent_ddim_prior.h"

#include <memory>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/tensor.h>
#include <c10/util/accumulate.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "data/tensor_file.pb.h"
#include "models/encoder.h"
#include "models/latent_prior.h"
#include "models/prior_checks.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "pipeline/trained_description.h"
#include "util/atomic_file.h"
#include "util/checksummed.h"
#include "util/npy.h"
#include "util/status_macros.h"

namespace diffuse {

std::string LatentsPath(const std::string& dir) { return dir + "/latents.npy"; }
std::string LatentStatsPath(const std::string& dir) { return dir + "/latent_stats.npy"; }

std::string LatentSourcePath(const std::string& dir) { return dir + "/latent_source.txt"; }

namespace {

absl::StatusOr<std::string> CheckpointFingerprint(const std::string& path) {
  ABSL_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(path));
  return absl::StrFormat("crc32=%08x bytes=%d", Crc32(bytes), bytes.size());
}

}  // namespace

absl::Status RecordLatentSource(const std::string& dir, const std::string& checkpoint) {
  ABSL_ASSIGN_OR_RETURN(const std::string source, CheckpointFingerprint(checkpoint));
  return WriteFileAtomically(LatentSourcePath(dir), source + "\n");
}

absl::Status CheckLatentSource(const std::string& dir, const std::string& checkpoint) {
  if (!FileExists(LatentSourcePath(dir)) || checkpoint.empty()) return absl::OkStatus();
  ABSL_ASSIGN_OR_RETURN(std::string recorded, ReadFile(LatentSourcePath(dir)));
  ABSL_ASSIGN_OR_RETURN(const std::string now, CheckpointFingerprint(checkpoint));
  if (absl::StripAsciiWhitespace(recorded) == now) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      LatentsPath(dir), " was encoded with another checkpoint (", LatentSourcePath(dir), ": ",
      absl::StripAsciiWhitespace(recorded), "; ", checkpoint, ": ", now, "); remove ", dir,
      " and run train-latent-prior again"));
}

absl::StatusOr<at::Tensor> WriteNormalizedLatents(const at::Tensor& z,
                                                  const std::vector<int64_t>& latent_shape,
                                                  const std::string& dir) {
  if (z.dim() != 2 || z.size(1) != c10::multiply_integers(latent_shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "codes of shape [", absl::StrJoin(z.sizes(), ", "), "] are not [N, D] with D the ",
        "elements of latent shape [", absl::StrJoin(latent_shape, ", "), "]"));
  }
  const at::Tensor codes = z.to(at::kDouble);
  const at::Tensor mean = codes.mean(0), std = codes.std(0).clamp_min(1e-8);
  const auto npy = [](const at::Tensor& t) {
    const at::Tensor c = t.to(at::kDouble).contiguous();
    NpyArray a;  // written as float32
    a.shape.assign(c.sizes().begin(), c.sizes().end());
    a.data.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
    return a;
  };
  ABSL_RETURN_IF_ERROR(MakeDirs(dir));
  ABSL_RETURN_IF_ERROR(WriteNpy(LatentStatsPath(dir), npy(at::stack({mean, std}))));
  std::vector<int64_t> shape{codes.size(0)};
  shape.insert(shape.end(), latent_shape.begin(), latent_shape.end());
  ABSL_RETURN_IF_ERROR(WriteNpy(LatentsPath(dir), npy(((codes - mean) / std).view(shape))));
  return std;
}

absl::StatusOr<PipelineConfig> LatentModelDescription(const LatentDdimPriorOptions& o) {
  if (o.dir().empty()) return absl::InvalidArgumentError("option dir is required");
  if (!o.has_pipeline()) return absl::InvalidArgumentError("option pipeline is required");
  if (o.pipeline().has_data() || o.pipeline().has_encoder()) {
    return absl::InvalidArgumentError(
        "option pipeline: leave out data (it is dir/latents.npy) and encoder");
  }
  PipelineConfig config = o.pipeline();
  TensorFileOptions data;
  data.set_path(LatentsPath(o.dir()));
  config.mutable_data()->set_name("tensor_file");
  config.mutable_data()->mutable_options()->PackFrom(data);
  return config;
}

namespace {

class LatentDdimPrior : public LatentPrior {
 public:
  LatentDdimPrior(LatentDdimPriorOptions options, std::vector<int64_t> latent_shape,
                  const TrainedDescriptionLoader& loader)
      : options_(std::move(options)),
        loader_(loader),
        latent_shape_(std::move(latent_shape)),
        latent_dim_(c10::multiply_integers(latent_shape_)) {}

  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    return CheckStandardNormalTerminal(forward, options_.max_terminal_alpha());
  }

  int64_t latent_dim() const override { return latent_dim_; }
  std::vector<int64_t> latent_shape() const override { return latent_shape_; }
  bool starts_at_standard_normal() const override { return true; }

  absl::Status PrepareForSampling() override {
    if (model_ != nullptr) return absl::OkStatus();
    absl::Status prepared = Prepare();
    if (prepared.ok()) return prepared;
    return absl::Status(prepared.code(), absl::StrCat("prior 'latent_ddim': option dir: ",
                                                      prepared.message()));
  }

  PriorSample Sample(int64_t batch, at::IntArrayRef sample_shape, NoiseSource& noise) override;

 private:
  absl::Status Prepare() {
    const std::string dir = options_.dir();
    const std::string hint = " (train it with `diffuse train-latent-prior`)";
    ABSL_ASSIGN_OR_RETURN(PipelineConfig config, LatentModelDescription(options_));
    absl::StatusOr<std::unique_ptr<TrainedDescription>> model = loader_.Build(config);
    if (!model.ok()) {
      return absl::Status(model.status().code(), absl::StrCat(model.status().message(), hint));
    }
    if ((*model)->sample_shape() != latent_shape_) {
      return absl::InvalidArgumentError(absl::StrCat(
          LatentsPath(dir), " holds z of shape [", absl::StrJoin((*model)->sample_shape(), ", "),
          "], want [", absl::StrJoin(latent_shape_, ", "), "] (the shape of the codes this ",
          "description's z has; remove ", dir, " and run train-latent-prior again)"));
    }
    if ((*model)->trained_module() != nullptr) {
      absl::Status loaded = loader_.LoadWeights(**model, CheckpointPath(dir));
      if (!loaded.ok()) return absl::Status(loaded.code(), absl::StrCat(loaded.message(), hint));
    }
    ABSL_ASSIGN_OR_RETURN(NpyArray stats, ReadNpy(LatentStatsPath(dir)));
    if (stats.shape != std::vector<int64_t>{2, latent_dim_}) {
      return absl::InvalidArgumentError(absl::StrCat(LatentStatsPath(dir), " must be [2, ",
                                                     latent_dim_, "] (mean, std)"));
    }
    const at::Tensor s = at::tensor(stats.data, at::kDouble).view({2, latent_dim_});
    mean_ = s[0].to(at::kFloat);
    std_ = s[1].to(at::kFloat);
    model_ = std::move(model).value();
    return absl::OkStatus();
  }

  LatentDdimPriorOptions options_;
  const TrainedDescriptionLoader& loader_;
  std::vector<int64_t> latent_shape_;  // [D], or a spatial code's [C, h, w]
  int64_t latent_dim_;
  std::unique_ptr<TrainedDescription> model_;
  at::Tensor mean_, std_;
};

PriorSample LatentDdimPrior::Sample(int64_t batch, at::IntArrayRef sample_shape,
                                    NoiseSource& noise) {
  TORCH_CHECK(model_ != nullptr, "prior 'latent_ddim' used before PrepareForSampling");
  // z from the latent model, on the same per-sample streams as x_T.
  const at::Tensor z = model_->Sample(batch, latent_shape_, noise).flatten(1);
  std::vector<int64_t> shape{batch};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  PriorSample out{noise.Normal(shape), Condition()};
  out.condition.latent = z.to(at::kFloat) * std_ + mean_;
  return out;
}

absl::StatusOr<std::unique_ptr<LatentPrior>> Make(const LatentDdimPriorOptions& o,
                                                  const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("max_terminal_alpha", o.max_terminal_alpha(), 0, 1));
  ABSL_RETURN_IF_ERROR(LatentModelDescription(o).status());
  ABSL_ASSIGN_OR_RETURN(const TrainedDescriptionLoader* loader, TrainedLoader(context));
  // A diffusion model's z conditions its predictor; an autoencoder's (latent diffusion) is
  // its encoder's code.
  const int64_t latent_dim = context.predictor != nullptr
                                 ? context.predictor->conditions().latent_dim
                                 : context.encoder->latent_dim();
  if (latent_dim == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "supplies z, but predictor '", context.config->predictor().name(),
        "' is not conditioned on a latent (latent_dim = 0)"));
  }
  // An autoencoder's code in its encoder's shape (a spatial code is modelled as an image);
  // a predictor's conditioning z as a vector.
  const std::vector<int64_t> latent_shape = context.predictor != nullptr
                                                ? std::vector<int64_t>{latent_dim}
                                                : context.encoder->latent_shape();
  return std::unique_ptr<LatentPrior>(new LatentDdimPrior(o, latent_shape, *loader));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(LatentPrior, "latent_ddim", LatentDdimPriorOptions, Make);

}  // namespace diffuse
