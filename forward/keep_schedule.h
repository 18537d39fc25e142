// The survival schedule shared by masking, uniform_categorical and deletion: the chance that
// an entry is still untouched at step t of T, keep(t) = 1 - t / T (linear) or
// cos(pi t / 2T) (cosine); keep(0) = 1, keep(T) = 0.
#ifndef DIFFUSE_FORWARD_KEEP_SCHEDULE_H_
#define DIFFUSE_FORWARD_KEEP_SCHEDULE_H_

#include <cmath>
#include <cstdint>

namespace diffuse {

inline double KeepSchedule(double t, int64_t num_steps, bool cosine) {
  const double u = t / static_cast<double>(num_steps);
  return cosine ? std::cos(M_PI / 2 * u) : 1 - u;
}

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_KEEP_SCHEDULE_H_
