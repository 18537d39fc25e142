// Reverse "dpmpp_3m", "dpmpp_2m_sde", "dpmpp_3m_sde": DPM-Solver++'s multistep third-order
// update and its SDE variants (Lu et al. 2022; k-diffusion's sample_dpmpp_2m_sde and
// sample_dpmpp_3m_sde; diffusers' DPMSolverMultistepScheduler with solver_order 3 or
// algorithm_type sde-dpmsolver++). Options: dpmpp_multistep.proto; the updates:
// multistep_updates.h.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include <ATen/TensorOperators.h>

#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "reverse/dpmpp_multistep.pb.h"
#include "reverse/gaussian_solver.h"
#include "reverse/multistep_updates.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class DpmSolverMultistep : public GaussianSolver {
 public:
  DpmSolverMultistep(int order, bool sde, const DpmSolverMultistepOptions& options)
      : order_(order), sde_(sde), options_(options) {}

  bool keeps_history() const override { return true; }
  void Reset() override { past_.clear(); }

 protected:
  at::Tensor GaussianStep(const ReverseStep& step, const at::Tensor& x_t, const at::Tensor& x0,
                          GaussianPoint t, GaussianPoint s) override {
    if (s.sigma == 0) return x0 * s.alpha;  // h = inf: every higher-order weight diverges
    DpmSolverPlusPlusRule rule;
    rule.order = std::min<int>(order_, 1 + UsablePast(t));
    if (options_.lower_order_final() && step.num_steps < 15 &&
        step.index == step.num_steps - 2) {
      rule.order = std::min(rule.order, 2);
    }
    rule.eta = sde_ ? options_.eta() : 0.0;
    rule.second_order = options_.second_order() == DpmSolverMultistepOptions::HEUN
                            ? SecondOrderRule::kHeun
                            : SecondOrderRule::kMidpoint;
    rule.d2_weight = options_.third_order() == DpmSolverMultistepOptions::TAYLOR ? 2.0 : 1.0;
    at::Tensor z;
    if (rule.eta > 0) z = step.noise->Normal(x_t.sizes()) * options_.s_noise();
    const at::Tensor x_s = DpmSolverPlusPlusStep(x_t, x0, past_, t, s, rule, z);
    past_.insert(past_.begin(), PastX0{t.lambda(), x0});
    if (static_cast<int>(past_.size()) > order_ - 1) past_.resize(order_ - 1);
    return x_s;
  }

 private:
  // Past entries usable for differences: all lambdas finite (a start at alpha = 0 has
  // lambda = -inf, and its differences carry no information).
  int UsablePast(GaussianPoint t) const {
    if (!std::isfinite(t.lambda())) return 0;
    int n = 0;
    while (n < static_cast<int>(past_.size()) && std::isfinite(past_[n].lambda)) ++n;
    return n;
  }

  int order_;
  bool sde_;
  DpmSolverMultistepOptions options_;
  std::vector<PastX0> past_;  // newest first
};

absl::Status CheckOptions(const DpmSolverMultistepOptions& o, int order, bool sde) {
  if (!sde && (o.has_eta() || o.has_s_noise())) {
    return absl::InvalidArgumentError(
        "options eta and s_noise are for the SDE variants (dpmpp_2m_sde, dpmpp_3m_sde)");
  }
  if (order < 3 && o.has_third_order()) {
    return absl::InvalidArgumentError("option third_order is for the third-order solvers");
  }
  ABSL_RETURN_IF_ERROR(CheckInRange("eta", o.eta(), 0, 2));
  return CheckInRange("s_noise", o.s_noise(), 0.5, 2);
}

template <int kOrder, bool kSde>
absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const DpmSolverMultistepOptions& o,
                                                         const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckOptions(o, kOrder, kSde));
  return std::unique_ptr<ReverseConditional>(new DpmSolverMultistep(kOrder, kSde, o));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "dpmpp_3m", DpmSolverMultistepOptions,
                           (Make<3, false>));
DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "dpmpp_2m_sde", DpmSolverMultistepOptions,
                           (Make<2, true>));
DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "dpmpp_3m_sde", DpmSolverMultistepOptions,
                           (Make<3, true>));

}  // namespace diffuse
