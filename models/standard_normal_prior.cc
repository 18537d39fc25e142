// Prior "standard_normal": the reverse process starts from x_{t_max} ~ N(0, I).
#include <memory>
#include <vector>

#include "forward/forward_process.h"
#include "models/latent_prior.h"
#include "models/prior_checks.h"
#include "models/standard_normal_prior.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class StandardNormalPrior : public LatentPrior {
 public:
  StandardNormalPrior(double max_terminal_alpha, int64_t latent_dim, bool per_step)
      : max_terminal_alpha_(max_terminal_alpha), latent_dim_(latent_dim), per_step_(per_step) {}

  int64_t latent_dim() const override { return latent_dim_; }
  bool latent_per_step() const override { return per_step_; }
  bool starts_at_standard_normal() const override { return true; }

  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    return CheckStandardNormalTerminal(forward, max_terminal_alpha_);
  }

  PriorSample Sample(int64_t batch, at::IntArrayRef sample_shape,
                     NoiseSource& noise) override {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
    PriorSample sample{noise.Normal(shape), Condition()};
    if (latent_dim_ > 0) sample.condition.latent = noise.Normal({batch, latent_dim_});
    return sample;
  }

 private:
  double max_terminal_alpha_;
  int64_t latent_dim_;
  bool per_step_;
};

absl::StatusOr<std::unique_ptr<LatentPrior>> Make(const StandardNormalPriorOptions& options,
                                                  const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("max_terminal_alpha", options.max_terminal_alpha(), 0, 1));
  ABSL_RETURN_IF_ERROR(CheckInRange("latent_dim", options.latent_dim(), 0, 65536));
  if (options.latent_per_step() && options.latent_dim() == 0) {
    return absl::InvalidArgumentError("option latent_per_step needs latent_dim > 0");
  }
  return std::unique_ptr<LatentPrior>(new StandardNormalPrior(
      options.max_terminal_alpha(), options.latent_dim(), options.latent_per_step()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(LatentPrior, "standard_normal", StandardNormalPriorOptions, Make);

}  // namespace diffuse
