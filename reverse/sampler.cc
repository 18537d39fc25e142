#include "reverse/sampler.h"

#include <torch/types.h>

namespace diffuse {

X0Prediction GuidedPrediction(const SamplingComponents& components, const at::Tensor& x,
                              double t, const Condition& condition) {
  X0Prediction prediction = components.predictor->Predict(x, t, condition);
  for (GuidanceTerm* term : components.guidance) {
    GuidanceInput input{components.predictor, components.forward, x, Time(t), condition};
    prediction = term->Guide(input, std::move(prediction));
  }
  return prediction;
}

at::Tensor RunReverseProcess(const SamplingComponents& components, at::Tensor x_start,
                             const std::vector<double>& times, const Condition& condition,
                             NoiseSource& noise, const StepHook& hook) {
  torch::NoGradGuard no_grad;
  const PredictFn predict = [&](const at::Tensor& x, double t) {
    return GuidedPrediction(components, x, t, condition);
  };
  components.reverse->Reset();
  at::Tensor x = std::move(x_start);
  const int n = static_cast<int>(times.size());
  for (int i = 0; i < n; ++i) {
    ReverseStep step{components.forward, times[i], i + 1 < n ? times[i + 1] : 0.0,
                     i, n, &noise, &predict};
    X0Prediction x0_hat = predict(x, step.t);
    if (hook) {
      StepView view{i, n, step.t, step.t_prev, x, x0_hat};
      hook(view);
    }
    x = components.reverse->Step(step, x, x0_hat);
  }
  return x;
}

}  // namespace diffuse
