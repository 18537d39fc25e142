// Concept 2: the x0-predictor G_t, q(x0 | x_t) ~ N(G_t(x_t), sigma_bar_t^2 I) for continuous
// data or a categorical (logits) for tokens.
//
// Whatever a network predicts internally (eps, v, score, x0), it is seen through this one
// interface; adapters convert with the forward process's Gaussian coefficients. Predict is
// differentiable (guidance may take gradients through it) unless the caller disables
// autograd.
#ifndef DIFFUSE_MODELS_X0_PREDICTOR_H_
#define DIFFUSE_MODELS_X0_PREDICTOR_H_

#include <cstdint>
#include <functional>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "forward/condition.h"
#include "forward/time.h"

namespace diffuse {

class TrainableModel;

// The conditions a predictor accepts; the builder checks these against guidance and data.
struct ConditionSupport {
  int64_t num_classes = 0;   // > 0: accepts Condition::label.
  bool null_label = false;   // accepts kNullLabel (trained with condition dropout).
  int64_t latent_dim = 0;    // > 0: accepts Condition::latent of this width.
  int64_t image_channels = 0;  // > 0: accepts Condition::image with this many channels.
  bool prompts = false;        // reads Condition::prompt (sampler.prompts).
  int64_t context_dim = 0;     // > 0: reads Condition::context, token states of this width.
};

struct X0Prediction {
  at::Tensor x0;      // E[x0 | x_t] (for tokens: the argmax or expectation, as documented).
  at::Tensor logits;  // [..., K] logits over token classes; undefined for continuous data.
};

// Observes, and may replace, a network's bottleneck activation h at time t (h-space
// editing, Asyrp). Returns the h to continue with.
using BottleneckHook = std::function<at::Tensor(const at::Tensor& h, const Time& t)>;

class X0Predictor {
 public:
  virtual ~X0Predictor() = default;

  virtual X0Prediction Predict(const at::Tensor& x_t, const Time& t,
                               const Condition& condition) = 0;

  virtual ConditionSupport conditions() const { return {}; }

  // Whether predictions carry logits over token classes (required on token data).
  virtual bool predicts_logits() const { return false; }

  // Installs (or, with nullptr, removes) a bottleneck hook. Predictors without a bottleneck
  // return UNIMPLEMENTED.
  virtual absl::Status SetBottleneckHook(BottleneckHook hook) {
    return absl::UnimplementedError("this x0-predictor has no bottleneck (h-space)");
  }

  // The trainable network behind the predictor, or nullptr for analytic predictors.
  virtual TrainableModel* trainable() { return nullptr; }
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_X0_PREDICTOR_H_
