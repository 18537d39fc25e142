// Reverse "unipc": UniPC (Zhao et al. 2023, "UniPC: a unified predictor-corrector framework
// for fast sampling of diffusion models", Alg. 2-3 with B(h); diffusers'
// UniPCMultistepScheduler with predict_x0). Each step first corrects x_t with UniC, using
// the prediction at x_t that the step has anyway, then moves on with UniP. Options:
// unipc.proto; the updates: multistep_updates.h.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "reverse/gaussian_solver.h"
#include "reverse/multistep_updates.h"
#include "reverse/unipc.pb.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class UniPc : public GaussianSolver {
 public:
  explicit UniPc(const UniPcOptions& options)
      : options_(options),
        disabled_(options.disable_corrector().begin(), options.disable_corrector().end()) {}

  bool keeps_history() const override { return true; }
  void Reset() override {
    past_.clear();
    last_x_ = at::Tensor();
  }

 protected:
  at::Tensor GaussianStep(const ReverseStep& step, const at::Tensor& x_t, const at::Tensor& x0,
                          GaussianPoint t, GaussianPoint s) override {
    const bool bh2 = options_.variant() == UniPcOptions::BH2;
    at::Tensor x = x_t;
    // UniC on the previous step's result, with its predictor's inputs and order.
    if (last_x_.defined() && options_.corrector() && disabled_.count(step.index - 1) == 0 &&
        std::isfinite(last_point_.lambda()) && std::isfinite(t.lambda())) {
      const std::vector<PastX0> older(past_.begin() + 1, past_.end());
      x = UniCorrectorStep(last_x_, past_[0].x0, older, x0, last_point_, t, last_order_, bh2);
    }
    past_.insert(past_.begin(), PastX0{t.lambda(), x0});
    if (static_cast<int>(past_.size()) > options_.order()) past_.resize(options_.order());
    last_x_ = x;
    last_point_ = t;
    // A step to sigma = 0 (h = inf) is first order: every higher weight diverges there (and
    // diffusers' bh1 computes -inf * 0 = NaN); its limit is x0_hat.
    if (s.sigma == 0) {
      last_order_ = 1;
      return x0 * s.alpha;
    }
    int order = std::min<int>(options_.order(), UsableHistory(t));
    if (options_.lower_order_final()) order = std::min(order, step.num_steps - step.index);
    last_order_ = order;
    const std::vector<PastX0> older(past_.begin() + 1, past_.end());
    return UniPredictorStep(x, x0, older, t, s, order, bh2);
  }

 private:
  // Predictions usable for differences, the current one included: lambdas finite.
  int UsableHistory(GaussianPoint t) const {
    if (!std::isfinite(t.lambda())) return 1;
    int n = 1;
    while (n < static_cast<int>(past_.size()) && std::isfinite(past_[n].lambda)) ++n;
    return n;
  }

  UniPcOptions options_;
  absl::flat_hash_set<int> disabled_;
  std::vector<PastX0> past_;  // newest first; past_[0] is the current step's prediction
  at::Tensor last_x_;         // the previous step's (corrected) start
  GaussianPoint last_point_{1, 1};
  int last_order_ = 1;
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const UniPcOptions& options,
                                                         const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("order", options.order(), 1, 3));
  for (int i : options.disable_corrector()) {
    ABSL_RETURN_IF_ERROR(CheckInRange("disable_corrector", i, 0, 1e6));
  }
  return std::unique_ptr<ReverseConditional>(new UniPc(options));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "unipc", UniPcOptions, Make);

}  // namespace diffuse
