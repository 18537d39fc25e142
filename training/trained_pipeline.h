// A network trained by `diffuse train` and read frozen by another pipeline (a noisy
// classifier for guidance, a text-image model): its checkpoint's stored description is
// rebuilt and its EMA weights loaded, with the checks every such reader makes.
#ifndef DIFFUSE_TRAINING_TRAINED_PIPELINE_H_
#define DIFFUSE_TRAINING_TRAINED_PIPELINE_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/build_context.h"
#include "pipeline/builder.h"

namespace diffuse {

// Parses the description stored in checkpoint `path` (DATA_LOSS if it does not parse),
// passes it to `accept` (which refuses other kinds of description with its own error),
// builds it and loads its EMA weights. Errors start with "checkpoint PATH".
absl::StatusOr<std::unique_ptr<Pipeline>> LoadTrainedPipeline(
    const std::string& path, const std::function<absl::Status(const PipelineConfig&)>& accept);

// That `trained` reads what the pipeline being built (`context`) makes: samples of the same
// shape and, when it has a forward process, x_t of the same one (truncation aside).
// FAILED_PRECONDITION otherwise, e.g. "checkpoint PATH classifies x_t of another forward
// process: forward.options...", with `verb` ("classifies", "embeds").
absl::Status CheckReadsThisPipeline(const std::string& path, const std::string& verb,
                                    const Pipeline& trained, const BuildContext& context);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_TRAINED_PIPELINE_H_
