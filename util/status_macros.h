// Shim for the upstream Abseil status macros (absent from Debian's Abseil 20220623).
// Delete this file and include "absl/status/status_macros.h" once Abseil has them.
#ifndef DIFFUSE_UTIL_STATUS_MACROS_H_
#define DIFFUSE_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DIFFUSE_STATUS_CONCAT_INNER_(a, b) a##b
#define DIFFUSE_STATUS_CONCAT_(a, b) DIFFUSE_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define ABSL_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    const absl::Status _diffuse_status = (expr);    \
    if (!_diffuse_status.ok()) return _diffuse_status; \
  } while (0)

// `lhs = value of rexpr` (an absl::StatusOr), or returns its error.
#define ABSL_ASSIGN_OR_RETURN(lhs, rexpr)                                   \
  DIFFUSE_ASSIGN_OR_RETURN_IMPL_(                                           \
      DIFFUSE_STATUS_CONCAT_(_diffuse_statusor, __LINE__), lhs, rexpr)

#define DIFFUSE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // DIFFUSE_UTIL_STATUS_MACROS_H_
