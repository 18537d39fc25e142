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
#include "forward/time.h"

namespace diffuse {

class TrainableModel;

// What a prediction is conditioned on; an undefined tensor means "absent".
struct Condition {
  // The label of the null condition (classifier-free guidance, condition dropout).
  static constexpr int64_t kNullLabel = -1;

  at::Tensor label;   // [B] int64 class ids, or kNullLabel.
  at::Tensor latent;  // [B, D] latent z (Diffusion Autoencoders, LRDM, ES-DDPM).
  at::Tensor image;   // [B, C, H, W] image condition (DiffuseVAE).
  // [B] int64: the index of each sample's prompt in sampler.prompts (CLIP guidance reads it;
  // a text-conditioned predictor reads the prompt's embedding in `latent`).
  at::Tensor prompt;
  // [B, D]: the latent of the negative condition of classifier-free guidance on a
  // text-conditioned predictor (the negative prompt's embedding, or zeros, the null one).
  at::Tensor negative_latent;
};

// The conditions a predictor accepts; the builder checks these against guidance and data.
struct ConditionSupport {
  int64_t num_classes = 0;   // > 0: accepts Condition::label.
  bool null_label = false;   // accepts kNullLabel (trained with condition dropout).
  int64_t latent_dim = 0;    // > 0: accepts Condition::latent of this width.
  int64_t image_channels = 0;  // > 0: accepts Condition::image with this many channels.
  bool prompts = false;        // reads Condition::prompt (sampler.prompts).
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
