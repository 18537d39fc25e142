// Shared math of Gaussian forward families, x_t = alpha(t) x0 + sigma(t) eps.
#ifndef DIFFUSE_FORWARD_GAUSSIAN_H_
#define DIFFUSE_FORWARD_GAUSSIAN_H_

#include <functional>

#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"
#include "forward/time.h"

namespace diffuse {

// A per-sample coefficient [B] viewed as [B, 1, ..., 1] in `like`'s dtype.
at::Tensor BroadcastPerSample(const at::Tensor& coef, const at::Tensor& like);

// x_t = alpha(t) x0 + sigma(t) eps.
at::Tensor GaussianApply(const GaussianCoefficients& c, const at::Tensor& x0, const Time& t,
                         const at::Tensor& eps);

// eps = (x_t - alpha(t) x0) / sigma(t); requires sigma(t) > 0.
at::Tensor GaussianInvertNoise(const GaussianCoefficients& c, const at::Tensor& x0,
                               const at::Tensor& x_t, const Time& t);

// alpha(t) and sigma(t) as float64 tensors: 0-dim for a shared time, [B] per sample.
at::Tensor AlphaTensor(const GaussianCoefficients& c, const Time& t);
at::Tensor SigmaTensor(const GaussianCoefficients& c, const Time& t);

// f applied to each element of a float64 [B] tensor (per-sample coefficients from a scalar
// formula; B is a training batch, so the loop is cheap and the formula exact).
at::Tensor EvaluatePerSample(const at::Tensor& t, const std::function<double(double)>& f);

// Signal-to-noise ratio alpha^2 / sigma^2 (infinite where sigma = 0).
double Snr(const GaussianCoefficients& c, double t);

// A Gaussian family as a ForwardProcess: everything follows from its coefficients, its time
// domain and the std of its terminal state (x_{t_max} is drawn as terminal_std N(0, I)).
// Implementations only supply coefficients().
class GaussianForward : public ForwardProcess {
 public:
  GaussianForward(TimeDomain domain, double terminal_std)
      : domain_(domain), terminal_std_(terminal_std) {}

  DataKind data_kind() const override { return DataKind::kContinuous; }
  TimeDomain time_domain() const override { return domain_; }
  at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const override {
    return GaussianApply(coefficients(), x0, t, eps);
  }
  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return noise.Normal(shape);
  }
  bool IsInvertible() const override { return true; }
  at::Tensor InvertNoise(const at::Tensor& x0, const at::Tensor& x_t,
                         const Time& t) const override {
    return GaussianInvertNoise(coefficients(), x0, x_t, t);
  }
  bool NoiseIsStandardNormal() const override { return true; }
  const GaussianCoefficients* gaussian() const override { return &coefficients(); }
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const override;

 protected:
  virtual const GaussianCoefficients& coefficients() const = 0;

 private:
  TimeDomain domain_;
  double terminal_std_;
};

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_GAUSSIAN_H_
