// The reverse process: from x_start at times[0] down to t = 0, "predict, then correct".
//
// Each step: x0_hat = predictor(x_t, t, condition), refined by each guidance term in order,
// shown to the hook (which may modify it), then x_{t_prev} ~ reverse(x_t, x0_hat).
// Exactly times.size() steps, and as many predictor calls plus those guidance terms or
// multistep solvers make. Runs without autograd (guidance re-enables it locally). For a
// forward process with an offset c (ForwardProcess::Offset, e.g. DiffuseVAE's x_hat) the
// reverse steps run on the residual x - c; the predictor and the hook see x.
#ifndef DIFFUSE_REVERSE_SAMPLER_H_
#define DIFFUSE_REVERSE_SAMPLER_H_

#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"
#include "guidance/guidance_term.h"
#include "models/x0_predictor.h"
#include "random/noise_source.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {

// What a step hook sees before each step; it may replace x_t and x0_hat (editing, clipping,
// inpainting); the step then uses what it leaves there.
struct StepView {
  int index;
  int num_steps;
  double t;
  double t_prev;
  at::Tensor& x_t;
  X0Prediction& x0_hat;
  // Set by the hook to an index j < index after it has taken x_t back up to times[j]
  // (RePaint's resampling jumps): the sampler continues from step j with that x_t, and this
  // step's prediction is dropped. Single-step conditionals only (a multistep solver's
  // history would mix the passes); noise sources see those steps' BeginStep again.
  int jump_back_to = -1;
};
using StepHook = std::function<void(StepView&)>;

struct SamplingComponents {
  const ForwardProcess* forward = nullptr;
  X0Predictor* predictor = nullptr;
  ReverseConditional* reverse = nullptr;
  std::vector<GuidanceTerm*> guidance;
  double clip_x0 = 0;  // > 0: x0_hat clamped to [-clip_x0, clip_x0] (SamplerOptions)
  double dynamic_threshold = 0;  // > 0: Imagen's dynamic thresholding at this quantile
  double end_time = 0;  // the run ends here (SamplerOptions.end_time)
  // > 0: every step replaces Condition::latent by a fresh z_t ~ N(0, I) of this width,
  // drawn first from the step's noise (LRDM, prior latent_per_step).
  int64_t latent_per_step = 0;
};

// Runs the reverse process in x_start's floating type (noise draws are converted to it).
// `times` is a grid from reverse/time_grid.h (or any strictly decreasing list of times
// > end_time).
at::Tensor RunReverseProcess(const SamplingComponents& components, at::Tensor x_start,
                             const std::vector<double>& times, const Condition& condition,
                             NoiseSource& noise, const StepHook& hook = nullptr);

// x0_hat at (x, t): the predictor followed by every guidance term, then the clamp.
X0Prediction GuidedPrediction(const SamplingComponents& components, const at::Tensor& x,
                              double t, const Condition& condition);

// Imagen's dynamic thresholding of x0 [B, ...] with bound c: per sample
// s = max(c, quantile(|x0|, q)), returns clamp(x0, -s, s) * c / s.
at::Tensor DynamicThreshold(const at::Tensor& x0, double c, double q);

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_SAMPLER_H_
