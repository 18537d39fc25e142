// Concept 3: the reverse conditional p(x_{t_prev} | x_t, x0).
//
// Sampling is "predict, then correct": x0_hat ~ q(x0 | x_t) from the x0-predictor, then
// x_{t_prev} ~ p(x_{t_prev} | x_t, x0 = x0_hat). A valid choice satisfies
//   integral p(x_{t_prev} | x_t, x0) q(x_t | x0) dx_t = q(x_{t_prev} | x0)      (marginal consistency)
// which every implementation's test checks by Monte Carlo.
//
// Step() may keep state across a run (multistep solvers); Reset() starts a new run. Solvers
// that evaluate the predictor more than once per step call ReverseStep::predict.
#ifndef DIFFUSE_REVERSE_REVERSE_CONDITIONAL_H_
#define DIFFUSE_REVERSE_REVERSE_CONDITIONAL_H_

#include <functional>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "forward/forward_process.h"
#include "models/x0_predictor.h"
#include "random/noise_source.h"

namespace diffuse {

// Predicts x0 (guidance included) at state x and time t.
using PredictFn = std::function<X0Prediction(const at::Tensor& x, double t)>;

struct ReverseStep {
  const ForwardProcess* forward = nullptr;
  double t = 0.0;       // current time
  double t_prev = 0.0;  // time to move to (< t); 0 is clean data
  int index = 0;        // 0-based step number
  int num_steps = 0;    // steps in this run
  NoiseSource* noise = nullptr;
  const PredictFn* predict = nullptr;
};

class ReverseConditional {
 public:
  virtual ~ReverseConditional() = default;
  // Checked once by the pipeline builder; Step() assumes it passed.
  virtual absl::Status CheckCompatible(const ForwardProcess& forward) const = 0;
  // Called before the first step of every run.
  virtual void Reset() {}
  // Whether a step reads what earlier steps left (a multistep solver's history), so that
  // steps cannot be run again out of order (StepView::jump_back_to).
  virtual bool keeps_history() const { return false; }
  // Called before the prediction of each step: may move x_t to a noisier time t_hat >= t
  // (stochastic churn) and returns t_hat; the step then starts there. Default: no move.
  virtual double Perturb(const ReverseStep& step, at::Tensor& x_t) { return step.t; }
  // Draws x_{t_prev} ~ p(x_{t_prev} | x_t, x0 = x0_hat).
  virtual at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                          const X0Prediction& x0_hat) = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_REVERSE_CONDITIONAL_H_
