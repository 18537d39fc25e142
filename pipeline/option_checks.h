// Range checks for component factories; errors name the option.
#ifndef DIFFUSE_PIPELINE_OPTION_CHECKS_H_
#define DIFFUSE_PIPELINE_OPTION_CHECKS_H_

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace diffuse {

// OK when lo <= value <= hi (and finite).
inline absl::Status CheckInRange(absl::string_view option, double value, double lo,
                                 double hi) {
  if (std::isfinite(value) && value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("option ", option, " = ", value,
                                                 " is out of range [", lo, ", ", hi, "]"));
}

// OK when value > 0 (and finite).
inline absl::Status CheckPositive(absl::string_view option, double value) {
  if (std::isfinite(value) && value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("option ", option, " = ", value, " must be > 0"));
}

}  // namespace diffuse

#endif  // DIFFUSE_PIPELINE_OPTION_CHECKS_H_
