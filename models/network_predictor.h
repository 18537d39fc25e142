// A neural network behind the x0 interface: whatever it outputs (eps, x0, v, or EDM's F,
// models/parameterization.h), Predict returns x0 and Loss trains it, with the forward
// process's Gaussian coefficients. Networks (MLP, U-Net) implement only Network().
#ifndef DIFFUSE_MODELS_NETWORK_PREDICTOR_H_
#define DIFFUSE_MODELS_NETWORK_PREDICTOR_H_

#include <utility>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "forward/forward_process.h"
#include "pipeline/build_context.h"
#include "models/parameterization.h"
#include "models/trainable_model.h"
#include "models/x0_predictor.h"

namespace diffuse {

struct NetworkPredictorOptions {
  Parameterization kind = EPS;
  double sigma_data = 0.5;                        // EDM only
  const GaussianCoefficients* gaussian = nullptr;  // required unless kind == X0
  double time_scale = 1.0;  // the network's time input is t * time_scale (about 0..1000)
  ConditionSupport conditions;
  // K > 0: token data (int64 in [0, K), state K and above: the mask). The network then sees
  // TokenInput(x_t) and outputs K logits per entry; kind must be X0 and Loss is the cross
  // entropy of x0 (D3PM's x0 loss; Austin et al. 2021, eq. 5).
  int64_t token_classes = 0;
  // Set when the forward process has an offset c (forward "shifted", DiffuseVAE form 2:
  // x_t = c + F_t(x0 - c, eps)): the parameterization then relates the residuals x0 - c and
  // x_t - c, so eps, v and EDM's F mean what they mean for the inner operator.
  const ForwardProcess* offset_forward = nullptr;
};

// Token data as network input: per entry a value channel (2k / (K - 1) - 1 for a class k,
// 0 for the mask) and a mask channel (1 where masked), concatenated on dimension 1:
// [B, S0, ...] int64 -> [B, 2 S0, ...] float32.
at::Tensor TokenInput(const at::Tensor& tokens, int64_t num_classes);

// The network's output [B, S0 K, ...] as logits [B, S0, ..., K].
at::Tensor OutputToLogits(const at::Tensor& out, int64_t num_classes);

// Checked once by a network's factory: EPS, V and EDM need Gaussian coefficients; EPS
// cannot recover x0 where alpha reaches 0.
absl::Status CheckParameterization(Parameterization kind, const BuildContext& context);

class NetworkPredictor : public X0Predictor, public TrainableModel {
 public:
  explicit NetworkPredictor(NetworkPredictorOptions options) : options_(std::move(options)) {}

  X0Prediction Predict(const at::Tensor& x_t, const Time& t,
                       const Condition& condition) override;
  ConditionSupport conditions() const override { return options_.conditions; }
  bool predicts_logits() const override { return options_.token_classes > 0; }
  TrainableModel* trainable() override { return this; }
  at::Tensor Loss(const TrainingExample& example) override;
  at::Tensor X0LossScale(const Time& t, int64_t batch) override;

 protected:
  // The network's output for input x [B, ...] (already scaled for EDM), its time input
  // [B] (float32: t * time_scale, or EDM's c_noise) at diffusion time t, and the condition;
  // `label` is the class index with the null class mapped to num_classes (undefined for
  // unconditional networks). Same shape as x (token data: [B, S0 K, ...], OutputToLogits).
  virtual at::Tensor Network(const at::Tensor& x, const at::Tensor& time_input, const Time& t,
                             const at::Tensor& label, const Condition& condition) = 0;

 private:
  // The network's output at (x_t, t); for EDM also its scalings.
  struct Output {
    at::Tensor out;
    at::Tensor alpha, sigma;  // undefined for X0
    EdmScalings edm;          // EDM only
  };
  Output Run(const at::Tensor& x_t, const Time& t, const Condition& condition);
  at::Tensor LabelIndex(const Condition& condition, int64_t batch) const;
  std::pair<at::Tensor, at::Tensor> AlphaSigma(const Time& t, const at::Tensor& x) const;
  // The offset c for this condition, undefined without one.
  at::Tensor Offset(const Condition& condition) const;

  NetworkPredictorOptions options_;
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_NETWORK_PREDICTOR_H_
