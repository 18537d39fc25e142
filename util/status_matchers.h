// gMock matchers for absl::Status / absl::StatusOr, after absl/status/status_matchers.h
// (newer than our Abseil). Tests assert the specific error, never just "not ok":
//   EXPECT_THAT(Build(config), StatusIs(absl::StatusCode::kInvalidArgument,
//                                       HasSubstr("sampler.num_steps")));
#ifndef DIFFUSE_UTIL_STATUS_MATCHERS_H_
#define DIFFUSE_UTIL_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace diffuse {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace internal

MATCHER_P2(StatusIs, code, message_matcher,
           "status code " + ::testing::PrintToString(code)) {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.code() == code &&
         ::testing::ExplainMatchResult(message_matcher,
                                       std::string(status.message()),
                                       result_listener);
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "status is " << status;
  return status.ok();
}

}  // namespace diffuse

// ASSERT_OK_AND_ASSIGN(T x, StatusOr<T> expression): fails the test with the status, or
// declares x with the value.
#define DIFFUSE_MATCHERS_CONCAT_INNER(a, b) a##b
#define DIFFUSE_MATCHERS_CONCAT(a, b) DIFFUSE_MATCHERS_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, expression) \
  ASSERT_OK_AND_ASSIGN_IMPL(DIFFUSE_MATCHERS_CONCAT(status_or_, __LINE__), lhs, expression)
#define ASSERT_OK_AND_ASSIGN_IMPL(var, lhs, expression) \
  auto var = (expression);                              \
  ASSERT_TRUE(var.ok()) << var.status();                \
  lhs = std::move(var).value()

#endif  // DIFFUSE_UTIL_STATUS_MATCHERS_H_
