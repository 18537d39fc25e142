// Where the N steps of a sampling run sit on the training time axis.
//
// The grid lists the N times at which the predictor is called, descending; the run then
// moves to t = 0. So "N steps" is exactly N predictor calls: no extra step at either end
// (the most reported sampler bug in the popular libraries).
#ifndef DIFFUSE_REVERSE_TIME_GRID_H_
#define DIFFUSE_REVERSE_TIME_GRID_H_

#include <vector>

#include "absl/status/statusor.h"
#include "forward/forward_process.h"
#include "forward/time.h"
#include "pipeline/pipeline.pb.h"

namespace diffuse {

// At most this many steps on a continuous or Karras grid (a discrete grid is bounded by T):
// far beyond any sampler in use, and small enough that a typo (2^31) fails at build time
// instead of allocating for minutes.
inline constexpr int kMaxSamplingSteps = 100000;

// Discrete time (T steps, 1..T; diffusers' 0-based timestep k is our k + 1):
//   LINSPACE  round(linspace(0, T - 1, N)) + 1   (round half to even, as numpy)
//   LEADING   (T div N) * k + steps_offset + 1, k = N-1..0
//   TRAILING  round(T - k T / N), k = 0..N-1      (diffusers' round(arange(T, 0, -T/N)),
//                                                  but always exactly N entries)
//   LINSPACE_OPEN        round(linspace(0, T - 1, N + 1))[1:] + 1   (DPM-Solver's linspace)
//   LINSPACE_FRACTIONAL  float32(linspace(0, T - 1, N)) + 1          (Euler's; fractional)
// Continuous time: 1 - k / N, k = 0..N-1 for every grid.
// INVALID_ARGUMENT names sampler.num_steps / sampler.steps_offset when the grid would not
// be N strictly decreasing times in (0, t_max].
// KARRAS is not available here (it needs the process's coefficients).
absl::StatusOr<std::vector<double>> MakeTimeGrid(TimeGrid grid, int num_steps,
                                                 int steps_offset, const TimeDomain& domain);

// The grid of a sampler section for `forward` (every grid, KARRAS included).
absl::StatusOr<std::vector<double>> MakeSamplerGrid(const SamplerOptions& sampler,
                                                    const ForwardProcess& forward);

// The time at which sigma(t) / alpha(t) = sigma_tilde (bisection; sigma_tilde increases
// with t) within [t_lo, t_hi].
double TimeAtScaledSigma(const GaussianCoefficients& g, double sigma_tilde, double t_lo,
                         double t_hi);

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_TIME_GRID_H_
