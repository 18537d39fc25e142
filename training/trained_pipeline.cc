#include "training/trained_pipeline.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/dataset.h"
#include "training/checkpoint.h"
#include "training/description_identity.h"
#include "training/trainer.h"
#include "util/status_macros.h"

namespace diffuse {

absl::StatusOr<std::unique_ptr<Pipeline>> LoadTrainedPipeline(
    const std::string& path, const std::function<absl::Status(const PipelineConfig&)>& accept) {
  ABSL_ASSIGN_OR_RETURN(std::string text, ReadCheckpointDescription(path));
  absl::StatusOr<PipelineConfig> config = ParsePipelineText(text, "its stored description");
  if (!config.ok()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, ": ", config.status().message()));
  }
  ABSL_RETURN_IF_ERROR(accept(*config));
  absl::StatusOr<std::unique_ptr<Pipeline>> trained = BuildPipeline(*config);
  if (!trained.ok()) {
    return absl::Status(trained.status().code(),
                        absl::StrCat("checkpoint ", path, ": its description: ",
                                     trained.status().message()));
  }
  ABSL_RETURN_IF_ERROR(LoadWeightsForSampling(**trained, path));
  return trained;
}

absl::Status CheckReadsThisPipeline(const std::string& path, const std::string& verb,
                                    const Pipeline& trained, const BuildContext& context) {
  const std::vector<int64_t> shape = trained.data->sample_shape();
  if (shape != context.data->sample_shape()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", path, " ", verb, " samples of shape [", absl::StrJoin(shape, ", "),
        "]; data '", context.config->data().name(), "' has [",
        absl::StrJoin(context.data->sample_shape(), ", "), "]"));
  }
  if (!trained.config.has_forward()) return absl::OkStatus();
  // x_t must mean the same noise level for the trained network as for this pipeline.
  PipelineConfig theirs, ours;
  *theirs.mutable_forward() = trained.config.forward();
  *ours.mutable_forward() = context.config->forward();
  if (const std::string difference = DescriptionDifference(theirs, ours, CheckpointUse::kWeights);
      !difference.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", path, " ", verb, " x_t of another forward process: ", difference));
  }
  return absl::OkStatus();
}

}  // namespace diffuse
