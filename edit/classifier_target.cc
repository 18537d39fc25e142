// Edit loss "classifier_target": see ClassifierTargetOptions in classifier_target.proto.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "edit/classifier_target.pb.h"
#include "edit/edit_loss.h"
#include "forward/forward_process.h"
#include "models/noisy_classifier.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class ClassifierTarget : public EditLoss {
 public:
  ClassifierTarget(std::unique_ptr<NoisyClassifier> classifier, int64_t target, double time)
      : classifier_(std::move(classifier)), target_(target), time_(time) {}

  at::Tensor Loss(const at::Tensor& x_edit, const at::Tensor&) override {
    return -classifier_->LogProbabilities(x_edit, Time(time_)).select(1, target_);
  }

  int64_t target_label() const override { return target_; }

 private:
  std::unique_ptr<NoisyClassifier> classifier_;
  int64_t target_;
  double time_;
};

absl::StatusOr<std::unique_ptr<EditLoss>> Make(const ClassifierTargetOptions& o,
                                               const BuildContext& context) {
  if (!o.has_classifier()) return absl::InvalidArgumentError("option classifier is required");
  if (context.forward != nullptr) {
    ABSL_RETURN_IF_ERROR(CheckInRange("time", o.time(), 0, context.forward->time_domain().t_max()));
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<NoisyClassifier> classifier,
                        Registry<NoisyClassifier>::Global().Create(
                            o.classifier(), "options.classifier", context));
  if (o.target_class() < 0 || o.target_class() >= classifier->num_classes()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option target_class = ", o.target_class(), " must be in [0, ",
        classifier->num_classes(), ") (the classifier's classes)"));
  }
  return std::unique_ptr<EditLoss>(
      new ClassifierTarget(std::move(classifier), o.target_class(), o.time()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(EditLoss, "classifier_target", ClassifierTargetOptions, Make);

}  // namespace diffuse
