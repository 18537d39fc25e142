// Converts a v1/v2 checkpoint (a LibTorch archive, training/legacy_checkpoint.h) to v3
// (training/checkpoint.h): the network is rebuilt from the description the file holds
// (a pipeline, or the evaluation classifier), the weights, EMA, Adam state, step and
// generator state are read into it and written back unchanged, so training resumes from
// the v3 file exactly as it would have from the old one.
#ifndef DIFFUSE_TOOLS_UPGRADE_CHECKPOINT_H_
#define DIFFUSE_TOOLS_UPGRADE_CHECKPOINT_H_

#include <string>

#include "absl/status/status.h"

namespace diffuse {

// Reads `in` (v1 or v2) and writes `out` (v3, atomically; `out` may be `in`).
// FAILED_PRECONDITION when `in` is already v3.
absl::Status UpgradeCheckpoint(const std::string& in, const std::string& out);

}  // namespace diffuse

#endif  // DIFFUSE_TOOLS_UPGRADE_CHECKPOINT_H_
