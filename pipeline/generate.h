// Draws samples from a built pipeline: prior -> reverse process, in chunks of
// sampler.batch_size. Sample i always uses noise stream (seed, i) and label LabelsFor(i)
// (unless the prior supplies labels with its start), so
// it does not change with the chunk size or with how many samples are drawn.
#ifndef DIFFUSE_PIPELINE_GENERATE_H_
#define DIFFUSE_PIPELINE_GENERATE_H_

#include <ostream>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "pipeline/builder.h"

namespace diffuse {

struct GenerateRequest {
  int64_t num = 0;
  uint64_t seed = 0;
  // Optional starting states [num, ...sample_shape] (e.g. a DDIM-inverted x_T); replaces the
  // prior's draw.
  at::Tensor x_start;
  std::ostream* progress = nullptr;  // one line per chunk
};

struct Generated {
  at::Tensor samples;  // [num, ...sample_shape] float32
  at::Tensor labels;   // [num] int64, undefined for unconditional pipelines
};

absl::StatusOr<Generated> Generate(Pipeline& pipeline, const GenerateRequest& request);

}  // namespace diffuse

#endif  // DIFFUSE_PIPELINE_GENERATE_H_
