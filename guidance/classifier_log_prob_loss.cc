// Guidance loss "classifier_log_prob": see ClassifierLogProbLossOptions in
// classifier_log_prob_loss.proto.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"
#include "guidance/guidance_loss.h"
#include "guidance/classifier_log_prob_loss.pb.h"
#include "models/noisy_classifier.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class ClassifierLogProbLoss : public GuidanceLoss {
 public:
  ClassifierLogProbLoss(std::unique_ptr<NoisyClassifier> classifier, double time)
      : classifier_(std::move(classifier)), time_(time) {}

  ConditionSupport conditions() const override {
    ConditionSupport support;
    support.num_classes = classifier_->num_classes();
    return support;
  }

  at::Tensor Loss(const at::Tensor& x0_hat, const GuidanceInput& in) override {
    TORCH_CHECK(in.condition.label.defined(), "loss 'classifier_log_prob' needs labels");
    return -classifier_->LogProb(x0_hat, Time(time_), in.condition.label);
  }

 private:
  std::unique_ptr<NoisyClassifier> classifier_;
  double time_;
};

absl::StatusOr<std::unique_ptr<GuidanceLoss>> Make(const ClassifierLogProbLossOptions& o,
                                                   const BuildContext& context) {
  if (!o.has_classifier()) return absl::InvalidArgumentError("option classifier is required");
  if (context.forward != nullptr) {
    ABSL_RETURN_IF_ERROR(
        CheckInRange("time", o.time(), 0, context.forward->time_domain().t_max()));
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<NoisyClassifier> classifier,
                        Registry<NoisyClassifier>::Global().Create(
                            o.classifier(), "options.classifier", context));
  return std::unique_ptr<GuidanceLoss>(new ClassifierLogProbLoss(std::move(classifier), o.time()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(GuidanceLoss, "classifier_log_prob", ClassifierLogProbLossOptions, Make);

}  // namespace diffuse
