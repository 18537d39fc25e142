// Draws samples from a built pipeline: prior -> reverse process, in chunks of
// sampler.batch_size, in sampler.dtype (a trained network is converted to it). Sample i always uses noise stream (seed, i) and label LabelsFor(i)
// (unless the prior supplies labels with its start), so
// it does not change with the chunk size or with how many samples are drawn.
#ifndef DIFFUSE_ASSEMBLY_GENERATE_H_
#define DIFFUSE_ASSEMBLY_GENERATE_H_

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "assembly/builder.h"

namespace diffuse {

struct GenerateRequest {
  int64_t num = 0;
  uint64_t seed = 0;
  // Optional starting states [num, ...sample_shape] (e.g. a DDIM-inverted x_T); replaces the
  // prior's draw.
  at::Tensor x_start;
  std::ostream* progress = nullptr;  // one line per chunk
  // Optional noise of the reverse steps [S, num, ...sample_shape], S = the grid's steps (or
  // one fewer when the last step draws none): step i's draw is row i (StepNoise). The
  // start still comes from the prior (or x_start).
  at::Tensor step_noise;
  std::string step_noise_source = "step noise";  // names it in errors
  // Record every step's state and x0_hat (Generated::trajectory, x0_trajectory).
  bool record_trajectory = false;
  // [num, D]: the latent z each sample is conditioned on (Condition::latent; Diffusion
  // Autoencoders' decoding). Required when the predictor is conditioned on a latent.
  at::Tensor latent;
  // Called before every reverse step of every chunk (after the trajectory's record), with
  // the chunk's first sample and size; it may replace the state (inpainting).
  std::function<void(int64_t first, int64_t count, StepView& view)> step_hook;
  // The global index of the first sample (a rank's share of a data-parallel run): sample i
  // of this request draws the noise stream (seed, first_index + i) and label first_index + i.
  int64_t first_index = 0;
};

// At most this many bytes of samples (and recorded trajectories) per Generate call; a count
// beyond it (a typo such as --num=10^12) fails at once instead of running for days.
inline constexpr int64_t kMaxGeneratedBytes = int64_t{8} << 30;

// OK when `num` samples (with their trajectories when `record_trajectory`) fit
// kMaxGeneratedBytes; otherwise INVALID_ARGUMENT "<name> = num ...".
absl::Status CheckSampleCount(const Pipeline& p, int64_t num, bool record_trajectory,
                              absl::string_view name);

struct Generated {
  at::Tensor samples;  // [num, ...sample_shape] in sampler.dtype (or int64 tokens)
  at::Tensor labels;   // [num] int64, undefined for unconditional pipelines
  // The image condition each sample was refined from (DiffuseVAE's x_hat, from the prior),
  // [num, ...sample_shape]; undefined when the prior supplies none.
  at::Tensor condition_images;
  // With record_trajectory: [S + 1, num, ...], row 0 the start, row i + 1 the state after
  // step i (what step i + 1's prediction sees, after any churn); and [S, num, ...], the
  // x0_hat of each step (after guidance and clipping).
  at::Tensor trajectory;
  at::Tensor x0_trajectory;
};

absl::StatusOr<Generated> Generate(Pipeline& pipeline, const GenerateRequest& request);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_GENERATE_H_
