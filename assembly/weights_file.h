// Weights in safetensors (util/safetensors.h), readable from Python:
//   import json, struct, numpy as np  (or: from safetensors.numpy import load_file)
// Names are the module's parameter names (e.g. "input.weight"); the EMA weights are the
// ones exported, as used for sampling. Metadata: "format", "pipeline" (the description),
// "step".
#ifndef DIFFUSE_ASSEMBLY_WEIGHTS_FILE_H_
#define DIFFUSE_ASSEMBLY_WEIGHTS_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "assembly/builder.h"

namespace diffuse {

// Writes the EMA weights of `checkpoint` (a training checkpoint of `pipeline`) to `out`,
// or with `ema` false the optimizer's own weights (to compare runs bit for bit).
absl::Status ExportWeights(Pipeline& pipeline, const std::string& checkpoint,
                           const std::string& out, bool ema = true);

// Loads weights from a safetensors file into the pipeline's network, for sampling. Every
// parameter must be present with its exact shape; errors name the file and the parameter.
absl::Status ImportWeights(Pipeline& pipeline, const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_WEIGHTS_FILE_H_
