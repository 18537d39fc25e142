// Loading trained descriptions: a checkpoint's EMA weights into a built pipeline, and the
// TrainedDescriptionLoader (pipeline/trained_description.h) that BuildPipeline hands every
// component through BuildContext::trained.
#ifndef DIFFUSE_ASSEMBLY_TRAINED_LOADER_H_
#define DIFFUSE_ASSEMBLY_TRAINED_LOADER_H_

#include <string>

#include "absl/status/status.h"
#include "pipeline/trained_description.h"

namespace diffuse {

struct Pipeline;

// Loads a checkpoint's EMA weights into the pipeline's trained module for sampling, after
// checking that the checkpoint was trained from a compatible description.
absl::Status LoadWeightsForSampling(Pipeline& pipeline, const std::string& checkpoint);

// The loader BuildPipeline puts in BuildContext: it builds descriptions with BuildPipeline
// and loads weights with LoadWeightsForSampling.
const TrainedDescriptionLoader& PipelineLoader();

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_TRAINED_LOADER_H_
