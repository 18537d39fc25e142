#include "models/network_predictor.h"

#include <tuple>
#include <vector>

#include <torch/enum.h>
#include <torch/nn/functional/loss.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "forward/gaussian.h"
#include "pipeline/pipeline.pb.h"

namespace diffuse {
namespace {

// The network's time input t * scale, [B], in the network's floating type.
at::Tensor TimeInput(const Time& t, int64_t batch, double scale, at::ScalarType type) {
  return t.is_shared() ? torch::full({batch}, t.shared() * scale, type)
                       : (t.per_sample() * scale).to(type);
}

}  // namespace

at::Tensor TokenInput(const at::Tensor& tokens, int64_t num_classes) {
  const at::Tensor masked = tokens.ge(num_classes);
  const at::Tensor value = torch::where(
      masked, torch::zeros({}, torch::kFloat32),
      tokens.to(torch::kFloat32).mul(2.0 / double(num_classes - 1)).sub(1.0));
  return torch::cat({value, masked.to(torch::kFloat32)}, 1);
}

at::Tensor OutputToLogits(const at::Tensor& out, int64_t num_classes) {
  std::vector<int64_t> shape(out.sizes().begin(), out.sizes().end());
  shape[1] /= num_classes;
  shape.insert(shape.begin() + 2, num_classes);
  return out.view(shape).movedim(2, -1);
}

absl::Status CheckParameterization(Parameterization kind, const BuildContext& context) {
  const GaussianCoefficients* gaussian = context.forward->gaussian();
  if (kind != X0 && kind != EDM && gaussian == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "option parameterization ", Parameterization_Name(kind),
        " needs a forward process with Gaussian coefficients; forward '",
        context.config->forward().name(), "' has none (use X0 or EDM)"));
  }
  if (kind == EPS && gaussian->Alpha(context.forward->time_domain().t_max()) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "option parameterization EPS cannot recover x0 where alpha(t) = 0, and forward '",
        context.config->forward().name(), "' reaches alpha = 0 at t_max (use V or X0)"));
  }
  return absl::OkStatus();
}

std::pair<at::Tensor, at::Tensor> NetworkPredictor::AlphaSigma(const Time& t,
                                                               const at::Tensor& x) const {
  if (options_.gaussian == nullptr) {  // EDM on a process without coefficients
    const double scale = options_.time_scale / 1000;  // sigma_tilde = t / t_max
    return {torch::ones({}, x.scalar_type()),
            t.is_shared() ? torch::scalar_tensor(t.shared() * scale, x.scalar_type())
                          : BroadcastPerSample(t.per_sample() * scale, x)};
  }
  const GaussianCoefficients& g = *options_.gaussian;
  if (t.is_shared()) {
    return {torch::scalar_tensor(g.Alpha(t.shared()), x.scalar_type()),
            torch::scalar_tensor(g.Sigma(t.shared()), x.scalar_type())};
  }
  return {BroadcastPerSample(g.Alpha(t.per_sample()), x),
          BroadcastPerSample(g.Sigma(t.per_sample()), x)};
}

at::Tensor NetworkPredictor::LabelIndex(const Condition& condition, int64_t batch) const {
  const int64_t k = options_.conditions.num_classes;
  if (k == 0) return at::Tensor();
  if (!condition.label.defined()) return torch::full({batch}, k, torch::kLong);
  return torch::where(condition.label.lt(0), torch::full_like(condition.label, k),
                      condition.label);
}

NetworkPredictor::Output NetworkPredictor::Run(const at::Tensor& x_t, const Time& t,
                                               const Condition& condition) {
  const int64_t batch = x_t.size(0);
  const at::Tensor label = LabelIndex(condition, batch);
  Output o;
  if (options_.kind != X0) std::tie(o.alpha, o.sigma) = AlphaSigma(t, x_t);
  if (options_.kind == EDM) {
    o.edm = EdmPreconditioning(o.alpha, o.sigma, options_.sigma_data);
    // c_noise on the scale of the time embedding (about the range of 1000 t).
    const at::Tensor time =
        (o.edm.c_noise.flatten() * 250).expand({batch}).to(x_t.scalar_type()).contiguous();
    o.out = Network(x_t * o.edm.c_in_x, time, t, label, condition);
  } else {
    const int64_t k = options_.token_classes;
    const at::Tensor input = k > 0 ? TokenInput(x_t, k) : x_t;
    o.out = Network(input, TimeInput(t, batch, options_.time_scale, input.scalar_type()), t,
                    label, condition);
    if (k > 0) o.out = OutputToLogits(o.out, k);
  }
  return o;
}

at::Tensor NetworkPredictor::Offset(const Condition& condition) const {
  return options_.offset_forward != nullptr ? options_.offset_forward->Offset(condition)
                                            : at::Tensor();
}

X0Prediction NetworkPredictor::Predict(const at::Tensor& x_t, const Time& t,
                                       const Condition& condition) {
  const Output o = Run(x_t, t, condition);
  if (options_.token_classes > 0) return {o.out.argmax(-1), o.out};
  if (options_.kind == X0) return {o.out, at::Tensor()};
  const at::Tensor offset = Offset(condition);
  const at::Tensor u = offset.defined() ? x_t - offset : x_t;
  at::Tensor x0 = options_.kind == EDM ? o.edm.c_skip_x * u + o.edm.c_out * o.out
                                       : OutputToX0(options_.kind, o.out, u, o.alpha, o.sigma);
  if (offset.defined()) x0 = x0 + offset;
  return {x0, at::Tensor()};
}

at::Tensor NetworkPredictor::Loss(const TrainingExample& e) {
  const Output o = Run(e.x_t, e.t, e.condition);
  if (options_.token_classes > 0) {
    return torch::nn::functional::cross_entropy(
               o.out.reshape({-1, options_.token_classes}), e.x0.reshape({-1}),
               torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
        .view({e.x0.size(0), -1})
        .mean(1);
  }
  // Residual coordinates under an offset (Predict's inverse).
  const at::Tensor offset = options_.kind == X0 ? at::Tensor() : Offset(e.condition);
  const at::Tensor x0 = offset.defined() ? e.x0 - offset : e.x0;
  const at::Tensor u = offset.defined() ? e.x_t - offset : e.x_t;
  const at::Tensor target =
      options_.kind == X0    ? x0
      : options_.kind == EDM ? (x0 - o.edm.c_skip_x * u) / o.edm.c_out
                             : TrainingTarget(options_.kind, x0, e.eps, o.alpha, o.sigma);
  return (o.out - target).pow(2).flatten(1).mean(1);
}

at::Tensor NetworkPredictor::X0LossScale(const Time& t, int64_t batch) {
  if (options_.kind == X0) return torch::ones({batch}, torch::kFloat64);
  at::Tensor alpha, sigma;
  if (options_.gaussian != nullptr) {
    alpha = AlphaTensor(*options_.gaussian, t);
    sigma = SigmaTensor(*options_.gaussian, t);
  } else {
    const at::Tensor ref = torch::zeros({batch}, torch::kFloat64);
    std::tie(alpha, sigma) = AlphaSigma(t, ref);
  }
  return diffuse::X0LossScale(options_.kind, alpha, sigma, options_.sigma_data)
      .expand({batch})
      .contiguous();
}

}  // namespace diffuse
