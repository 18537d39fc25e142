// Song, Dhariwal, Chen & Sutskever 2023 ("CM"), eqs. 25-26 and Table 3; Song & Dhariwal
// 2023 ("iCT"), eq. 8.
#include "training/consistency.h"

#include <algorithm>
#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/ops/sqrt.h>

#include "absl/strings/str_cat.h"
#include "pipeline/pipeline.pb.h"
#include "reverse/time_grid.h"

namespace diffuse {

absl::StatusOr<std::vector<double>> ConsistencyTimes(const ConsistencyOptions& o,
                                                     int num_scales,
                                                     const ForwardProcess& forward) {
  SamplerOptions sampler;  // the sampler's grids, read ascending with t_0 = 0 in front
  sampler.set_num_steps(num_scales - 1);
  sampler.set_grid(o.spacing() == ConsistencyOptions::KARRAS ? KARRAS : LINSPACE);
  sampler.set_rho(o.rho());
  absl::StatusOr<std::vector<double>> grid = MakeSamplerGrid(sampler, forward);
  if (!grid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consistency.num_scales = ", num_scales, " with spacing ",
        ConsistencyOptions::Spacing_Name(o.spacing()), ": ", grid.status().message(),
        " (another consistency.spacing or num_scales)"));
  }
  std::vector<double> times = {0.0};
  times.insert(times.end(), grid->rbegin(), grid->rend());
  for (size_t i = 1; i < times.size(); ++i) {
    if (!(times[i] > times[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "consistency.num_scales = ", num_scales, ": spacing ",
          ConsistencyOptions::Spacing_Name(o.spacing()), " gives equal times ", times[i],
          " (fewer scales, or another spacing)"));
    }
  }
  return times;
}

ConsistencySchedule ConsistencyScheduleAt(const ConsistencyTrainingOptions& o, int64_t step,
                                          int64_t total_steps) {
  const int s0 = o.consistency().num_scales();
  const int s1 = o.final_num_scales();
  if (s1 <= s0) return {s0, o.consistency().target_ema()};
  const double k = static_cast<double>(step) / std::max<int64_t>(total_steps, 1);
  const double root =
      std::sqrt(k * ((s1 + 1.0) * (s1 + 1.0) - s0 * static_cast<double>(s0)) + s0 * s0);
  const int n = static_cast<int>(std::ceil(root - 1)) + 1;
  const double mu0 = o.initial_target_ema();
  return {n, mu0 > 0 ? std::exp(s0 * std::log(mu0) / n) : 0.0};
}

at::Tensor ConsistencyDistance(const ConsistencyOptions& o, const at::Tensor& a,
                               const at::Tensor& b) {
  const at::Tensor diff = (a - b).flatten(1);
  switch (o.distance()) {
    case ConsistencyOptions::SQUARED_L2:
      return diff.pow(2).mean(1);
    case ConsistencyOptions::L1:
      return diff.abs().mean(1);
    case ConsistencyOptions::PSEUDO_HUBER: {
      const double c = o.huber_c() > 0 ? o.huber_c() : 0.00054 * std::sqrt(diff.size(1));
      return (diff.pow(2).sum(1) + c * c).sqrt() - c;
    }
  }
  return diff.pow(2).mean(1);
}

}  // namespace diffuse
