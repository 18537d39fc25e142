#include "reverse/inversion.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>

namespace diffuse {

at::Tensor InvertToNoise(const SamplingComponents& components, const at::Tensor& x0,
                         const std::vector<double>& times, const Condition& condition) {
  at::NoGradGuard no_grad;
  const ForwardProcess& forward = *components.forward;
  at::Tensor x = x0;
  double s = times.back();  // x0 stands in for x_{t_first}
  for (auto it = times.rbegin(); it != times.rend(); ++it) {
    const double t = *it;
    const X0Prediction x0_hat = GuidedPrediction(components, x, s, condition);
    const at::Tensor eps = forward.InvertNoise(x0_hat.x0, x, s);
    x = forward.Apply(x0_hat.x0, t, eps);
    s = t;
  }
  return x;
}

}  // namespace diffuse
