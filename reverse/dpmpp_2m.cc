// Reverse "dpmpp_2m": DPM-Solver++(2M), the multistep second-order solver of Lu et al. 2022
// (Alg. 2; k-diffusion's sample_dpmpp_2m). One predictor call per step; the first step, the
// last (to t = 0) and a step from alpha = 0 are first order.
#include <cmath>
#include <limits>
#include <memory>

#include "pipeline/registry.h"
#include "reverse/gaussian_solver.h"

namespace diffuse {
namespace {

class DpmSolver2M : public GaussianSolver {
 public:
  bool keeps_history() const override { return true; }
  void Reset() override {
    x0_prev_ = at::Tensor();
    h_prev_ = std::numeric_limits<double>::infinity();
  }

 protected:
  at::Tensor GaussianStep(const ReverseStep&, const at::Tensor& x_t, const at::Tensor& x0,
                          GaussianPoint t, GaussianPoint s) override {
    if (s.sigma == 0) return x0 * s.alpha;
    const at::Tensor x_s = DpmSolver2MStep(x_t, x0, x0_prev_, h_prev_, t, s);
    x0_prev_ = x0;
    h_prev_ = s.lambda() - t.lambda();
    return x_s;
  }

 private:
  at::Tensor x0_prev_;
  double h_prev_ = std::numeric_limits<double>::infinity();
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const NoOptions&,
                                                         const BuildContext&) {
  return std::unique_ptr<ReverseConditional>(new DpmSolver2M);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "dpmpp_2m", NoOptions, Make);

}  // namespace diffuse
