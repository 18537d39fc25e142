#include "forward/gaussian.h"

#include <limits>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/add.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/scalar_tensor.h>
#include <ATen/ops/sub.h>

namespace diffuse {

at::Tensor BroadcastPerSample(const at::Tensor& coef, const at::Tensor& like) {
  std::vector<int64_t> shape(like.dim(), 1);
  shape[0] = coef.size(0);
  return coef.to(like.scalar_type()).view(shape);
}

at::Tensor GaussianApply(const GaussianCoefficients& c, const at::Tensor& x0, const Time& t,
                         const at::Tensor& eps) {
  if (t.is_shared()) {
    return at::add(x0 * c.Alpha(t.shared()), eps, c.Sigma(t.shared()));
  }
  return x0 * BroadcastPerSample(c.Alpha(t.per_sample()), x0) +
         eps * BroadcastPerSample(c.Sigma(t.per_sample()), eps);
}

at::Tensor GaussianInvertNoise(const GaussianCoefficients& c, const at::Tensor& x0,
                               const at::Tensor& x_t, const Time& t) {
  if (t.is_shared()) {
    const double sigma = c.Sigma(t.shared());
    TORCH_CHECK(sigma > 0, "InvertNoise at t=", t.shared(), " where sigma is 0");
    return at::sub(x_t, x0, c.Alpha(t.shared())) / sigma;
  }
  return (x_t - x0 * BroadcastPerSample(c.Alpha(t.per_sample()), x0)) /
         BroadcastPerSample(c.Sigma(t.per_sample()), x_t);
}

at::Tensor AlphaTensor(const GaussianCoefficients& c, const Time& t) {
  return t.is_shared() ? at::scalar_tensor(c.Alpha(t.shared()), at::kDouble)
                       : c.Alpha(t.per_sample());
}

at::Tensor SigmaTensor(const GaussianCoefficients& c, const Time& t) {
  return t.is_shared() ? at::scalar_tensor(c.Sigma(t.shared()), at::kDouble)
                       : c.Sigma(t.per_sample());
}

at::Tensor EvaluatePerSample(const at::Tensor& t, const std::function<double(double)>& f) {
  const at::Tensor in = t.to(at::kDouble).contiguous();
  at::Tensor out = at::empty_like(in);
  const double* src = in.data_ptr<double>();
  double* dst = out.data_ptr<double>();
  for (int64_t i = 0; i < in.numel(); ++i) dst[i] = f(src[i]);
  return out;
}

at::Tensor GaussianForward::SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const {
  const at::Tensor z = noise.Normal(shape);
  return terminal_std_ == 1.0 ? z : z * terminal_std_;
}

double Snr(const GaussianCoefficients& c, double t) {
  const double sigma = c.Sigma(t);
  if (sigma == 0) return std::numeric_limits<double>::infinity();
  const double alpha = c.Alpha(t);
  return alpha * alpha / (sigma * sigma);
}

}  // namespace diffuse
