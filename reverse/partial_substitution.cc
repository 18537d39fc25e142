// Reverse "partial_substitution": the DDIM eta family in the unified form
//   x_{t_prev} = F_{t_prev}(x0, sqrt(1 - s^2) F_t^{-1}(x0, x_t) + s z).
// Marginally consistent for any s in [0, 1] because F_t^{-1}(x0, x_t) ~ N(0, I) given x0.
#include "reverse/partial_substitution.h"

#include <cmath>
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>

#include "forward/gaussian.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "reverse/reverse_conditional.h"
#include "reverse/partial_substitution.pb.h"
#include "util/status_macros.h"

namespace diffuse {

double PartialSubstitutionShare(const ForwardProcess& forward, double eta, double t,
                                double t_prev) {
  const GaussianCoefficients* g = forward.gaussian();
  if (g == nullptr) return eta;
  const double snr_prev = Snr(*g, t_prev);
  if (std::isinf(snr_prev)) return 0.0;
  const double ratio = Snr(*g, t) / snr_prev;
  return eta * std::sqrt(std::max(0.0, 1.0 - ratio));
}

namespace {

class PartialSubstitution : public ReverseConditional {
 public:
  PartialSubstitution(double eta, bool constant) : eta_(eta), constant_(constant) {}

  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    if (recorrupts()) return absl::OkStatus();
    if (!forward.IsInvertible() || !forward.NoiseIsStandardNormal()) {
      return absl::FailedPreconditionError(
          "needs a forward process invertible in eps with eps ~ N(0, I)");
    }
    return absl::OkStatus();
  }

  at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                  const X0Prediction& x0_hat) override {
    if (recorrupts()) {
      return step.forward->Apply(x0_hat.x0, step.t_prev,
                                 step.forward->SampleNoise(x_t.sizes(), *step.noise)
                                     .to(x_t.scalar_type()));
    }
    const double s = constant_ ? eta_
                               : PartialSubstitutionShare(*step.forward, eta_, step.t, step.t_prev);
    if (const GaussianCoefficients* g = step.forward->gaussian(); g != nullptr && s > 0) {
      return GaussianStep(*g, step, x_t, x0_hat.x0, s);
    }
    at::Tensor eps = step.forward->InvertNoise(x0_hat.x0, x_t, step.t);
    if (s > 0) {
      eps = at::add(eps * std::sqrt(1 - s * s), step.noise->Normal(x_t.sizes()), s);
    }
    return step.forward->Apply(x0_hat.x0, step.t_prev, eps);
  }

 private:
  // The same step written out for x_t = a_t x0 + s_t eps: with k = sqrt(1 - s^2) / s_t,
  //   x_prev = (a_p - s_p k a_t) x0 + s_p k x_t + s_p s z,
  // three in-place passes over the fresh noise instead of seven tensor ops.
  static at::Tensor GaussianStep(const GaussianCoefficients& g, const ReverseStep& step,
                                 const at::Tensor& x_t, const at::Tensor& x0, double s) {
    const double a_t = g.Alpha(step.t), s_t = g.Sigma(step.t);
    const double a_p = g.Alpha(step.t_prev), s_p = g.Sigma(step.t_prev);
    const double k = std::sqrt(1 - s * s) / s_t;
    at::Tensor z = step.noise->Normal(x_t.sizes()).to(x_t.scalar_type());
    return z.mul_(s_p * s).add_(x0, a_p - s_p * k * a_t).add_(x_t, s_p * k);
  }

  bool recorrupts() const { return constant_ && eta_ == 1; }

  double eta_;
  bool constant_;
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(
    const PartialSubstitutionOptions& options, const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("eta", options.eta(), 0, 1));
  return std::unique_ptr<ReverseConditional>(new PartialSubstitution(
      options.eta(), options.share() == PartialSubstitutionOptions::CONSTANT));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "partial_substitution",
                           PartialSubstitutionOptions, Make);

}  // namespace diffuse
