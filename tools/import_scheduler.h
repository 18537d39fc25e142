// `diffuse import-scheduler`: a diffusers scheduler_config.json as the forward, reverse and
// sampler sections of a pipeline description that reproduces it step for step.
//
// Supported: DDPMScheduler, DDIMScheduler, DPMSolverMultistepScheduler (dpmsolver++, order
// 2, midpoint) and EulerDiscreteScheduler; every key is either mapped (beta schedule,
// num_train_timesteps, timestep_spacing, steps_offset, set_alpha_to_one, clip_sample,
// thresholding, rescale_betas_zero_snr, use_karras_sigmas, ...) or accepted only at a value
// that changes nothing; anything else is refused by name. Conventions that cannot be
// reproduced (e.g. diffusers' DDIM stepping to t - T // N where that is not the next grid
// time) are refused with the reason, never approximated.
#ifndef DIFFUSE_TOOLS_IMPORT_SCHEDULER_H_
#define DIFFUSE_TOOLS_IMPORT_SCHEDULER_H_

#include <string>

#include "absl/status/statusor.h"
#include "pipeline/pipeline.pb.h"

namespace diffuse {

struct ImportedScheduler {
  // forward, reverse and sampler set; the rest of the description is the user's.
  PipelineConfig config;
  // What the description does not carry: the class, prediction_type (the predictor's
  // parameterization), DDIM's eta; one comment line each.
  std::string notes;
  // The whole fragment as text: notes as # comments, then the sections.
  std::string text;
};

// `json` is the file's content, `source` names it in errors, `num_steps` is the number of
// inference steps (diffusers' num_inference_steps).
absl::StatusOr<ImportedScheduler> ImportScheduler(const std::string& json,
                                                  const std::string& source, int num_steps);

}  // namespace diffuse

#endif  // DIFFUSE_TOOLS_IMPORT_SCHEDULER_H_
