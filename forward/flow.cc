// Forward "flow": rectified flow (Liu et al. 2022) / flow matching with the linear path,
// x_t = (1 - t) x0 + t eps, a Gaussian family with alpha = 1 - t, sigma = t.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"
#include "forward/gaussian.h"
#include "forward/flow.pb.h"
#include "pipeline/registry.h"

namespace diffuse {
namespace {

class FlowCoefficients : public GaussianCoefficients {
 public:
  double Alpha(double t) const override { return 1.0 - Check(t); }
  double Sigma(double t) const override { return Check(t); }
  at::Tensor Alpha(const at::Tensor& t) const override { return 1.0 - t.to(at::kDouble); }
  at::Tensor Sigma(const at::Tensor& t) const override { return t.to(at::kDouble); }

 private:
  static double Check(double t) {
    TORCH_CHECK(t >= 0 && t <= 1, "time ", t, " is outside [0, 1]");
    return t;
  }
};

class Flow : public GaussianForward {
 public:
  Flow() : GaussianForward({false, 0}, 1.0) {}

 protected:
  const GaussianCoefficients& coefficients() const override { return coefficients_; }

 private:
  FlowCoefficients coefficients_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const FlowOptions&, const BuildContext&) {
  return std::unique_ptr<ForwardProcess>(new Flow);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "flow", FlowOptions, Make);

}  // namespace diffuse
