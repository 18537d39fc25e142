// Prior "diffused_estimate": see diffused_estimate_prior.proto.
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "models/diffused_estimate_prior.pb.h"
#include "models/latent_prior.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class DiffusedEstimatePrior : public LatentPrior {
 public:
  DiffusedEstimatePrior(const ForwardProcess& forward,
                        DiffusedEstimatePriorOptions::Estimate estimate, bool as_condition,
                        DataBatch pool)
      : forward_(forward),
        estimate_(estimate),
        as_condition_(as_condition), pool_(std::move(pool.x)),
        pool_labels_(std::move(pool.label)) {
    if (estimate_ == DiffusedEstimatePriorOptions::GAUSSIAN_FIT) {
      const at::Tensor flat = pool_.flatten(1).to(torch::kFloat64);
      mean_ = flat.mean(0);
      const at::Tensor centred = flat - mean_;
      const at::Tensor cov = torch::matmul(centred.t(), centred) / (flat.size(0) - 1);
      // A small ridge keeps the factor defined for degenerate data (constant pixels).
      cholesky_ = torch::linalg_cholesky(cov + 1e-6 * torch::eye(cov.size(0), torch::kFloat64));
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

  PriorSample Sample(int64_t batch, at::IntArrayRef sample_shape, NoiseSource& noise) override {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
    at::Tensor x0;
    Condition condition;
    if (estimate_ == DiffusedEstimatePriorOptions::DATA_SAMPLES) {
      const at::Tensor index = (noise.Uniform({batch}).to(torch::kFloat64) * pool_.size(0))
                                   .to(torch::kLong)
                                   .clamp_max(pool_.size(0) - 1);
      x0 = pool_.index_select(0, index);
      // Conditional predictors then refine each start towards its own class.
      if (pool_labels_.defined()) condition.label = pool_labels_.index_select(0, index);
    } else {
      const at::Tensor z = noise.Normal({batch, mean_.size(0)}).to(torch::kFloat64);
      x0 = (mean_ + torch::matmul(z, cholesky_.t())).to(torch::kFloat32).view(shape);
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
  DiffusedEstimatePriorOptions::Estimate estimate_;
  bool as_condition_;
  at::Tensor pool_, pool_labels_;
  at::Tensor mean_, cholesky_;
};

absl::StatusOr<std::unique_ptr<LatentPrior>> Make(const DiffusedEstimatePriorOptions& o,
                                                  const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("pool_size", o.pool_size(), 2, 1000000));
  if (o.estimate() == DiffusedEstimatePriorOptions::GAUSSIAN_FIT &&
      context.data->num_token_classes() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option estimate GAUSSIAN_FIT needs real-valued data; data '",
        context.config->data().name(), "' is tokens (use DATA_SAMPLES)"));
  }
  at::Generator generator = at::detail::createCPUGenerator(o.seed());
  DataBatch pool = context.data->Sample(o.pool_size(), generator);
  return std::unique_ptr<LatentPrior>(
      new DiffusedEstimatePrior(*context.forward, o.estimate(), o.estimate_as_condition(),
                                std::move(pool)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(LatentPrior, "diffused_estimate", DiffusedEstimatePriorOptions, Make);

}  // namespace diffuse
