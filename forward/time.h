// Diffusion time as every concept sees it.
//
// Discrete processes count steps 0..T (0 is clean data, T the terminal state);
// continuous ones use t in [0, 1]. During sampling all samples of a batch share one time,
// and the coefficients of F_t are plain numbers (no tensor ops per step); during training
// each sample has its own time.
#ifndef DIFFUSE_FORWARD_TIME_H_
#define DIFFUSE_FORWARD_TIME_H_

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace diffuse {

class Time {
 public:
  // One time for the whole batch.
  Time(double shared) : shared_(shared) {}  // NOLINT: implicit on purpose.
  // One time per sample: a float64 tensor of shape [B].
  explicit Time(at::Tensor per_sample) : per_sample_(std::move(per_sample)) {}

  bool is_shared() const { return !per_sample_.defined(); }
  // Precondition: is_shared().
  double shared() const { return shared_; }
  // Precondition: !is_shared().
  const at::Tensor& per_sample() const { return per_sample_; }

 private:
  double shared_ = 0.0;
  at::Tensor per_sample_;
};

// Whether t counts discrete steps or runs over [0, 1].
struct TimeDomain {
  bool discrete = true;
  int64_t num_steps = 0;  // T for discrete time; 0 for continuous.
  // The largest time: T, or 1.0.
  double t_max() const { return discrete ? static_cast<double>(num_steps) : 1.0; }
};

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_TIME_H_
