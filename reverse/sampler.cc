#include "reverse/sampler.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/max.h>
#include <ATen/ops/min.h>
#include <ATen/ops/quantile.h>

namespace diffuse {
namespace {

// Hands the reverse steps normal draws in the state's type (float64 runs).
class CastNoise : public NoiseSource {
 public:
  CastNoise(NoiseSource& inner, at::ScalarType type) : inner_(inner), type_(type) {}
  at::Tensor Normal(at::IntArrayRef shape) override { return inner_.Normal(shape).to(type_); }
  at::Tensor Uniform(at::IntArrayRef shape) override { return inner_.Uniform(shape); }
  void BeginStep(int index) override { inner_.BeginStep(index); }

 private:
  NoiseSource& inner_;
  at::ScalarType type_;
};

}  // namespace

X0Prediction GuidedPrediction(const SamplingComponents& components, const at::Tensor& x,
                              double t, const Condition& condition) {
  X0Prediction prediction = components.predictor->Predict(x, t, condition);
  for (GuidanceTerm* term : components.guidance) {
    GuidanceInput input{components.predictor, components.forward, x, Time(t), condition};
    prediction = term->Guide(input, std::move(prediction));
  }
  if (components.dynamic_threshold > 0) {
    prediction.x0 =
        DynamicThreshold(prediction.x0, components.clip_x0, components.dynamic_threshold);
  } else if (components.clip_x0 > 0) {
    prediction.x0 = prediction.x0.clamp(-components.clip_x0, components.clip_x0);
  }
  return prediction;
}

at::Tensor DynamicThreshold(const at::Tensor& x0, double c, double q) {
  const at::Tensor flat = x0.reshape({x0.size(0), -1}).abs().to(at::kFloat);
  at::Tensor s = at::quantile(flat, q, /*dim=*/1, /*keepdim=*/true).clamp_min(c);
  std::vector<int64_t> shape(x0.dim(), 1);
  shape[0] = x0.size(0);
  s = s.view(shape).to(x0.scalar_type());
  return at::max(at::min(x0, s), -s) * (c / s);
}

at::Tensor RunReverseProcess(const SamplingComponents& components, at::Tensor x_start,
                             const std::vector<double>& times, const Condition& condition,
                             NoiseSource& caller_noise, const StepHook& hook) {
  at::NoGradGuard no_grad;
  // Token states (int64) take uniforms; real states get normals of their own type.
  CastNoise noise(caller_noise, at::isFloatingType(x_start.scalar_type())
                                    ? x_start.scalar_type()
                                    : at::kFloat);
  const at::Tensor offset = components.forward->Offset(condition);
  const bool shifted = offset.defined();
  Condition step_condition = condition;  // LRDM: z_t replaced at every step
  // Reverse steps see residuals u = x - offset; x0_hat is returned in the same coordinates.
  const PredictFn predict = [&](const at::Tensor& u, double t) {
    if (!shifted) return GuidedPrediction(components, u, t, step_condition);
    X0Prediction p = GuidedPrediction(components, u + offset, t, step_condition);
    p.x0 = p.x0 - offset;
    return p;
  };
  components.reverse->Reset();
  at::Tensor u = shifted ? x_start - offset : std::move(x_start);
  const int n = static_cast<int>(times.size());
  for (int i = 0; i < n; ++i) {
    noise.BeginStep(i);
    if (components.latent_per_step > 0) {
      step_condition.latent = noise.Normal({u.size(0), components.latent_per_step});
    }
    ReverseStep step{components.forward, times[i], i + 1 < n ? times[i + 1] : components.end_time,
                     i, n, &noise, &predict};
    step.t = components.reverse->Perturb(step, u);
    X0Prediction x0_hat = predict(u, step.t);
    if (hook) {
      at::Tensor x = shifted ? u + offset : u;
      if (shifted) x0_hat.x0 = x0_hat.x0 + offset;
      StepView view{i, n, step.t, step.t_prev, x, x0_hat};
      hook(view);
      u = shifted ? x - offset : x;
      if (shifted) x0_hat.x0 = x0_hat.x0 - offset;
      if (view.jump_back_to >= 0 && view.jump_back_to < i) {
        i = view.jump_back_to - 1;  // the loop's ++i: from step jump_back_to again
        continue;
      }
    }
    u = components.reverse->Step(step, u, x0_hat);
  }
  return shifted ? u + offset : u;
}

}  // namespace diffuse
