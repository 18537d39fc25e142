// A predictor whose network is trained by training/. The trainer owns the optimizer and
// EMA; the model supplies parameters (its module, whose submodule names are the checkpoint
// keys) and its per-sample loss, in whatever parameterization it is trained (eps, x0, v,
// logits).
#ifndef DIFFUSE_MODELS_TRAINABLE_MODEL_H_
#define DIFFUSE_MODELS_TRAINABLE_MODEL_H_

#include <ATen/core/Tensor.h>

#include "forward/time.h"
#include "models/x0_predictor.h"

namespace torch {
namespace nn {
class Module;
}  // namespace nn
}  // namespace torch

namespace diffuse {

// One training example batch after the forward process: x_t = F_t(x0, eps).
struct TrainingExample {
  at::Tensor x0;
  at::Tensor eps;
  at::Tensor x_t;
  Time t{0.0};
  Condition condition;
};

class TrainableModel {
 public:
  virtual ~TrainableModel() = default;
  virtual torch::nn::Module& module() = 0;
  // Per-sample loss [B] of the model on `example`.
  virtual at::Tensor Loss(const TrainingExample& example) = 0;
  // Per-sample ratio [B] (float64) of Loss() to the squared error of the x0 it implies,
  // ||x0 - x0_hat||^2 / dim, at times t: SNR for eps, 1 for x0, (alpha^2 + sigma^2)^2 /
  // sigma^2 for v, 1 / c_out^2 for EDM. The trainer's loss weightings are defined on x0 and
  // divided by it.
  virtual at::Tensor X0LossScale(const Time& t, int64_t batch) = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_TRAINABLE_MODEL_H_
