// Prior "forward_terminal": the reverse process starts from the forward process's own
// terminal draw (SampleTerminal): N(0, I) for VP and flow, sigma_max N(0, I) for VE, and,
// for other operators, whatever their terminal state is (all-mask, blurred mean, ...).
#include <memory>
#include <vector>

#include "models/latent_prior.h"
#include "models/prior_checks.h"
#include "pipeline/registry.h"

namespace diffuse {
namespace {

class ForwardTerminalPrior : public LatentPrior {
 public:
  explicit ForwardTerminalPrior(const ForwardProcess& forward) : forward_(forward) {}
  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    return CheckDataFreeTerminal(forward);
  }
  PriorSample Sample(int64_t batch, at::IntArrayRef sample_shape, NoiseSource& noise) override {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
    return {forward_.SampleTerminal(shape, noise), Condition()};
  }

 private:
  const ForwardProcess& forward_;
};

absl::StatusOr<std::unique_ptr<LatentPrior>> Make(const NoOptions&,
                                                  const BuildContext& context) {
  if (context.forward == nullptr) {
    return absl::FailedPreconditionError("draws x_T from the forward process; this description has none");
  }
  return std::unique_ptr<LatentPrior>(new ForwardTerminalPrior(*context.forward));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(LatentPrior, "forward_terminal", NoOptions, Make);

}  // namespace diffuse
