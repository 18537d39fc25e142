// The pieces of the consistency objectives (training/consistency.proto) that tests check
// on their own: the time discretization, CM's curriculum and the distances.
#ifndef DIFFUSE_TRAINING_CONSISTENCY_H_
#define DIFFUSE_TRAINING_CONSISTENCY_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "forward/forward_process.h"
#include "training/consistency.pb.h"

namespace diffuse {

// The N = num_scales times t_0 = 0 < t_1 < ... < t_{N-1} = t_max (ascending).
// INVALID_ARGUMENT names consistency.num_scales and spacing when the spacing cannot place N
// distinct times.
absl::StatusOr<std::vector<double>> ConsistencyTimes(const ConsistencyOptions& options,
                                                     int num_scales,
                                                     const ForwardProcess& forward);

// N and mu at optimizer step `step` of `total_steps` (CM eq. 26, Table 3).
struct ConsistencySchedule {
  int num_scales = 0;
  double target_ema = 0;
};
ConsistencySchedule ConsistencyScheduleAt(const ConsistencyTrainingOptions& options,
                                          int64_t step, int64_t total_steps);

// d(a, b) per example [B] (a, b: [B, ...]).
at::Tensor ConsistencyDistance(const ConsistencyOptions& options, const at::Tensor& a,
                               const at::Tensor& b);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_CONSISTENCY_H_
