#include "reverse/time_grid.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace diffuse {

absl::StatusOr<std::vector<double>> MakeTimeGrid(TimeGrid grid, int num_steps,
                                                 int steps_offset, const TimeDomain& domain) {
  const int n = num_steps;
  if (n < 1 || (domain.discrete && n > domain.num_steps)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.num_steps = ", n, " must be in [1, ",
        domain.discrete ? absl::StrCat(domain.num_steps, "] (the training steps T)")
                        : std::string("inf)")));
  }
  std::vector<double> times(n);
  if (!domain.discrete) {
    for (int k = 0; k < n; ++k) times[k] = 1.0 - static_cast<double>(k) / n;
    return times;
  }
  const int64_t T = domain.num_steps;
  for (int k = 0; k < n; ++k) {
    switch (grid) {
      case LINSPACE:  // k-th from the end of linspace(0, T - 1, n)
        times[k] = std::nearbyint(n == 1 ? 0.0 : (T - 1) * static_cast<double>(n - 1 - k) /
                                                      (n - 1)) + 1;
        break;
      case LEADING:
        times[k] = static_cast<double>((T / n) * (n - 1 - k) + steps_offset + 1);
        break;
      case TRAILING:
        times[k] = std::nearbyint(T - k * static_cast<double>(T) / n);
        break;
    }
  }
  for (int k = 0; k < n; ++k) {
    if (times[k] < 1 || times[k] > T || (k > 0 && times[k] >= times[k - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampler: grid ", TimeGrid_Name(grid), " with num_steps = ", n,
          ", steps_offset = ", steps_offset, " gives step ", times[k], " at position ", k,
          ", not a strictly decreasing time in [1, ", T, "]"));
    }
  }
  return times;
}

}  // namespace diffuse
