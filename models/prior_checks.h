// The compatibility checks that priors drawing x_T from the forward process's terminal state
// share (run once, when a pipeline is built).
#ifndef DIFFUSE_MODELS_PRIOR_CHECKS_H_
#define DIFFUSE_MODELS_PRIOR_CHECKS_H_

#include "absl/status/status.h"
#include "forward/forward_process.h"

namespace diffuse {

// The terminal state needs no data: the process is neither offset by x_hat (shifted) nor
// truncated. FAILED_PRECONDITION names the prior to use instead.
absl::Status CheckDataFreeTerminal(const ForwardProcess& forward);

// That, and the terminal state is N(0, I): Gaussian coefficients with
// alpha(t_max) <= max_terminal_alpha.
absl::Status CheckStandardNormalTerminal(const ForwardProcess& forward,
                                         double max_terminal_alpha);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_PRIOR_CHECKS_H_
