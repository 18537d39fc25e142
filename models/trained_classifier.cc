// Noisy classifier "trained_classifier": see trained_classifier.proto.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "models/module_ops.h"
#include "models/noisy_classifier.h"
#include "models/trained_classifier.pb.h"
#include "pipeline/registry.h"
#include "pipeline/trained_description.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// Owns the classifier description it was trained from, rebuilt, with its EMA weights.
class TrainedClassifier : public NoisyClassifier {
 public:
  explicit TrainedClassifier(std::unique_ptr<TrainedDescription> trained) : trained_(std::move(trained)) {
    // Guidance differentiates in x_t only.
    FreezeModule(*trained_->classifier()->module());
  }
  int64_t num_classes() const override { return trained_->classifier()->num_classes(); }
  at::Tensor LogProbabilities(const at::Tensor& x_t, const Time& t) override {
    return trained_->classifier()->LogProbabilities(x_t, t);
  }
  // No module(): the loaded weights are frozen, not trained again (a classifier description
  // naming "trained_classifier" is refused as having no network to train).

 private:
  std::unique_ptr<TrainedDescription> trained_;
};

absl::StatusOr<std::unique_ptr<NoisyClassifier>> Load(const std::string& path,
                                                      const BuildContext& context) {
  ABSL_ASSIGN_OR_RETURN(const TrainedDescriptionLoader* loader, TrainedLoader(context));
  ABSL_ASSIGN_OR_RETURN(
      std::unique_ptr<TrainedDescription> trained,
      loader->LoadCheckpoint(path, [&](const PipelineConfig& config) -> absl::Status {
        if (!config.has_classifier()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "checkpoint ", path, " was not trained from a classifier description (it has "
              "no classifier section)"));
        }
        if (config.classifier().name() == "trained_classifier") {  // would load itself again
          return absl::InvalidArgumentError(absl::StrCat(
              "checkpoint ", path, ": its classifier is itself a 'trained_classifier'"));
        }
        return absl::OkStatus();
      }));
  ABSL_RETURN_IF_ERROR(loader->CheckReadsThisDescription(path, "classifies", *trained, context));
  return std::unique_ptr<NoisyClassifier>(new TrainedClassifier(std::move(trained)));
}

absl::StatusOr<std::unique_ptr<NoisyClassifier>> Make(const TrainedClassifierOptions& o,
                                                      const BuildContext& context) {
  if (o.checkpoint().empty()) return absl::InvalidArgumentError("option checkpoint is required");
  if (context.forward == nullptr) {
    return absl::FailedPreconditionError("guides a diffusion pipeline; this one has no forward");
  }
  absl::StatusOr<std::unique_ptr<NoisyClassifier>> loaded = Load(o.checkpoint(), context);
  if (loaded.ok()) return loaded;
  return absl::Status(loaded.status().code(),
                      absl::StrCat("option checkpoint: ", loaded.status().message()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(NoisyClassifier, "trained_classifier", TrainedClassifierOptions, Make);

}  // namespace diffuse
