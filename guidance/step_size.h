// Gradient guidance in x_t moves x0_hat by s sigma^2 / alpha grad (Dhariwal & Nichol 2021,
// in x0 form), which is infinite where alpha(t) = 0.
#ifndef DIFFUSE_GUIDANCE_STEP_SIZE_H_
#define DIFFUSE_GUIDANCE_STEP_SIZE_H_

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "forward/forward_process.h"
#include "forward/gaussian.h"

namespace diffuse {

// Refuses a forward process whose alpha reaches 0 at t_max (flow, zero terminal SNR), where
// sampling starts. Precondition: forward.gaussian() != nullptr.
inline absl::Status CheckAlphaPositive(const ForwardProcess& forward) {
  const double t_max = forward.time_domain().t_max();
  if (forward.gaussian()->Alpha(t_max) > 0) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "alpha(t_max = ", t_max, ") is 0, where the step sigma^2 / alpha of gradient guidance "
      "is infinite (a flow or zero-terminal-SNR process)"));
}

}  // namespace diffuse

#endif  // DIFFUSE_GUIDANCE_STEP_SIZE_H_
