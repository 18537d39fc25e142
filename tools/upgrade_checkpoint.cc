#include "tools/upgrade_checkpoint.h"

#include <memory>

#include <torch/optim/adam.h>
#include <torch/types.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "assembly/builder.h"
#include "eval/fashion_classifier.h"
#include "eval/fashion_classifier_net.h"
#include "training/checkpoint.h"
#include "training/legacy_checkpoint.h"
#include "training/trainer.h"
#include "util/atomic_file.h"
#include "util/checksummed.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status UpgradeCheckpoint(const std::string& in, const std::string& out) {
  if (!FileExists(in)) return absl::NotFoundError(absl::StrCat("checkpoint ", in, " does not exist"));
  ABSL_ASSIGN_OR_RETURN(const std::string bytes, ReadFile(in));
  if (HeaderWord(bytes) == "diffuse-checkpoint-v3") {
    return absl::FailedPreconditionError(absl::StrCat("checkpoint ", in, " is already v3"));
  }
  ABSL_ASSIGN_OR_RETURN(const std::string text, LegacyPipelineText(in));
  TrainingState state;
  if (absl::StartsWith(text, kClassifierCheckpointKind)) {
    FashionClassifier model;
    torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions());
    ABSL_RETURN_IF_ERROR(LoadLegacyCheckpoint(in, *model, &optimizer, &state));
    return SaveCheckpoint(out, *model, optimizer, state);
  }
  absl::StatusOr<PipelineConfig> config = ParsePipelineText(text, in);
  if (!config.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", in, ": its description does not "
                                            "parse: ", config.status().message()));
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline, BuildPipeline(*config));
  if (pipeline->trained_module() == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", in, ": its pipeline has no trained network"));
  }
  TrainedNetwork network = PrepareTraining(*pipeline->trained_module(), pipeline->config.training());
  ABSL_RETURN_IF_ERROR(LoadLegacyCheckpoint(in, *network.module, network.optimizer.get(), &state));
  return SaveCheckpoint(out, *network.module, *network.optimizer, state);
}

}  // namespace diffuse
