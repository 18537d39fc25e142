#include "models/prior_checks.h"

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status CheckDataFreeTerminal(const ForwardProcess& forward) {
  if (forward.HasOffset()) {
    return absl::FailedPreconditionError(
        "the forward process is offset by x_hat (shifted): use prior \"diffused_estimate\" "
        "with estimate_as_condition, which supplies it");
  }
  if (!forward.HasDataFreeTerminal()) {
    return absl::FailedPreconditionError(
        "the forward process is truncated: its start depends on the data (use prior "
        "\"diffused_estimate\")");
  }
  return absl::OkStatus();
}

absl::Status CheckStandardNormalTerminal(const ForwardProcess& forward,
                                         double max_terminal_alpha) {
  ABSL_RETURN_IF_ERROR(CheckDataFreeTerminal(forward));
  const GaussianCoefficients* g = forward.gaussian();
  if (g == nullptr) {
    return absl::FailedPreconditionError(
        "needs a Gaussian forward process (its terminal state must be N(0, I))");
  }
  const double alpha = g->Alpha(forward.time_domain().t_max());
  if (alpha > max_terminal_alpha) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the forward process ends at alpha(t_max) = ", alpha,
        ", not near N(0, I) (max_terminal_alpha = ", max_terminal_alpha, ")"));
  }
  return absl::OkStatus();
}

}  // namespace diffuse
