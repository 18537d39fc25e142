// Image-to-image sampling on given images, for any pipeline whose prior starts at N(0, I):
//   SDEdit (Meng et al. 2022): the images taken to time t_s by the forward process,
//     x = F_{t_s}(x0, eps), then the reverse process from there: the last round(N s) steps of
//     the sampler's N-step grid (diffusers' `strength`). s = 0 returns the images; s = 1 is
//     ordinary sampling from the same noise (the prior's x_T; F_T(x0, eps) differs from it by
//     alpha(T) x0).
//   Inpainting (RePaint, Lugmayr et al. 2022, eq. 8 and Alg. 1): before every step at t the
//     known region (mask 1) of the state is replaced by F_t(x0, eps_t), eps_t fresh draws of a
//     stream of its own, and the result's known region by x0. With resample = R > 1, every
//     `jump` steps the last `jump` steps are run R times, the state taken back up between
//     passes by the forward transition q(x_t | x_s) (RePaint's jumps), which lets the
//     generated region harmonize with the known one; about R times the predictor calls.
//     Gaussian forward processes and single-step reverse conditionals.
// Sample i uses noise stream (seed, i) like `sample`, so results do not depend on batching.
#ifndef DIFFUSE_ASSEMBLY_IMAGE_TO_IMAGE_H_
#define DIFFUSE_ASSEMBLY_IMAGE_TO_IMAGE_H_

#include <cstdint>
#include <ostream>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "assembly/builder.h"
#include "assembly/generate.h"

namespace diffuse {

struct ImageToImageRequest {
  at::Tensor images;       // [N, ...sample_shape], in the data's range
  double strength = 1.0;   // the share of the grid run, in [0, 1]
  // Inpainting: 1 where the image is known and kept, 0 where it is generated; broadcastable
  // to `images` ([N or 1, C or 1, H, W]). Undefined: no inpainting.
  at::Tensor mask;
  uint64_t seed = 0;
  int resample = 1;  // inpainting: passes over each stretch of `jump` steps, in [1, 100]
  int jump = 10;     // RePaint's jump length, in [1, 1000]
  std::ostream* progress = nullptr;
};

// The steps of an N-step grid that strength s runs: round(N s).
int64_t StrengthSteps(int64_t grid_steps, double strength);

absl::StatusOr<Generated> ImageToImage(Pipeline& p, const ImageToImageRequest& request);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_IMAGE_TO_IMAGE_H_
