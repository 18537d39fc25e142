// Guidance loss "mean_brightness": see MeanBrightnessLossOptions in mean_brightness_loss.proto.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "guidance/guidance_loss.h"
#include "guidance/mean_brightness_loss.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class MeanBrightnessLoss : public GuidanceLoss {
 public:
  explicit MeanBrightnessLoss(double target) : target_(target) {}
  at::Tensor Loss(const at::Tensor& x0_hat, const GuidanceInput&) override {
    return (x0_hat.flatten(1).mean(1) - target_).square();
  }

 private:
  double target_;
};

absl::StatusOr<std::unique_ptr<GuidanceLoss>> Make(const MeanBrightnessLossOptions& o,
                                                   const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("target", o.target(), -1e6, 1e6));
  return std::unique_ptr<GuidanceLoss>(new MeanBrightnessLoss(o.target()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(GuidanceLoss, "mean_brightness", MeanBrightnessLossOptions, Make);

}  // namespace diffuse
