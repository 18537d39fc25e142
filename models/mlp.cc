// Predictor "mlp": MlpDenoiser behind the x0 interface, trainable as eps, x0 or v.
#include "models/mlp.h"

#include <cmath>
#include <memory>

#include <torch/torch.h>

#include "data/dataset.h"
#include "forward/gaussian.h"
#include "models/mlp.pb.h"
#include "models/parameterization.h"
#include "models/trainable_model.h"
#include "models/x0_predictor.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {

at::Tensor SinusoidalEmbedding(const at::Tensor& time, int64_t dim) {
  const int64_t half = dim / 2;
  const at::Tensor freqs =
      torch::exp(torch::arange(half, torch::kFloat32) * (-std::log(10000.0) / half));
  const at::Tensor args = time.to(torch::kFloat32).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({args.sin(), args.cos()}, 1);
}

MlpDenoiserImpl::MlpDenoiserImpl(const MlpDenoiserOptions& options) : options(options) {
  reset();
}

void MlpDenoiserImpl::reset() {
  const int64_t h = options.hidden();
  time_in_ = register_module("time_in", torch::nn::Linear(options.time_embedding_dim(), h));
  time_out_ = register_module("time_out", torch::nn::Linear(h, h));
  input_ = register_module("input", torch::nn::Linear(options.data_dim(), h));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.blocks(); ++i) blocks_->push_back(torch::nn::Linear(h, h));
  output_ = register_module("output", torch::nn::Linear(h, options.data_dim()));
  if (options.num_classes() > 0) {
    class_embedding_ = register_module(
        "class_embedding", torch::nn::Embedding(options.num_classes() + 1, h));
  }
}

at::Tensor MlpDenoiserImpl::forward(const at::Tensor& x, const at::Tensor& time,
                                    const at::Tensor& label) {
  at::Tensor c = time_out_(torch::silu(time_in_(SinusoidalEmbedding(time, options.time_embedding_dim()))));
  if (label.defined()) c = c + class_embedding_(label);
  at::Tensor h = input_(x);
  for (const auto& block : *blocks_) {
    h = h + block->as<torch::nn::Linear>()->forward(torch::silu(h + c));
  }
  return output_(torch::silu(h));
}

namespace {

class MlpPredictor : public X0Predictor, public TrainableModel {
 public:
  MlpPredictor(MlpDenoiser net, Parameterization kind, double sigma_data,
               const GaussianCoefficients* gaussian, double time_scale, int64_t num_classes,
               bool null_label)
      : net_(std::move(net)),
        kind_(kind),
        sigma_data_(sigma_data),
        gaussian_(gaussian),
        time_scale_(time_scale),
        num_classes_(num_classes),
        null_label_(null_label) {}

  X0Prediction Predict(const at::Tensor& x_t, const Time& t,
                       const Condition& condition) override {
    if (kind_ == EDM) {
      const EdmScalings c = Edm(t, x_t);
      const at::Tensor out = net_(x_t.flatten(1) * Rows(c.c_in_x), NoiseLabel(c, x_t),
                                  LabelIndex(condition, x_t))
                                 .view(x_t.sizes());
      return {c.c_skip_x * x_t + c.c_out * out, at::Tensor()};
    }
    const at::Tensor out = net_(x_t.flatten(1), ScaledTime(t, x_t.size(0)),
                                LabelIndex(condition, x_t))
                               .view(x_t.sizes());
    if (kind_ == X0) return {out, at::Tensor()};
    const auto [alpha, sigma] = AlphaSigma(t, x_t);
    return {OutputToX0(kind_, out, x_t, alpha, sigma), at::Tensor()};
  }

  ConditionSupport conditions() const override {
    ConditionSupport support;
    support.num_classes = num_classes_;
    support.null_label = null_label_;
    return support;
  }

  TrainableModel* trainable() override { return this; }
  torch::nn::Module& module() override { return *net_; }

  at::Tensor X0LossScale(const Time& t, int64_t batch) override {
    if (kind_ == X0) return torch::ones({batch}, torch::kFloat64);
    const at::Tensor alpha = AlphaTensor(*gaussian_, t), sigma = SigmaTensor(*gaussian_, t);
    return diffuse::X0LossScale(kind_, alpha, sigma, sigma_data_).expand({batch}).contiguous();
  }

  at::Tensor Loss(const TrainingExample& e) override {
    if (kind_ == EDM) {
      const EdmScalings c = Edm(e.t, e.x_t);
      const at::Tensor out = net_(e.x_t.flatten(1) * Rows(c.c_in_x), NoiseLabel(c, e.x_t),
                                  LabelIndex(e.condition, e.x_t))
                                 .view(e.x_t.sizes());
      const at::Tensor target = (e.x0 - c.c_skip_x * e.x_t) / c.c_out;
      return (out - target).pow(2).flatten(1).mean(1);
    }
    const at::Tensor out =
        net_(e.x_t.flatten(1), ScaledTime(e.t, e.x_t.size(0)), LabelIndex(e.condition, e.x_t))
            .view(e.x_t.sizes());
    at::Tensor target = e.x0;
    if (kind_ != X0) {
      const auto [alpha, sigma] = AlphaSigma(e.t, e.x_t);
      target = TrainingTarget(kind_, e.x0, e.eps, alpha, sigma);
    }
    return (out - target).pow(2).flatten(1).mean(1);
  }

 private:
  at::Tensor ScaledTime(const Time& t, int64_t batch) const {
    return t.is_shared() ? torch::full({batch}, t.shared() * time_scale_, torch::kFloat32)
                         : (t.per_sample() * time_scale_).to(torch::kFloat32);
  }

  EdmScalings Edm(const Time& t, const at::Tensor& x) const {
    const auto [alpha, sigma] = AlphaSigma(t, x);
    return EdmPreconditioning(alpha, sigma, sigma_data_);
  }
  // A shared (0-dim) or per-sample ([B, 1, ...]) coefficient against flattened samples.
  static at::Tensor Rows(const at::Tensor& c) {
    return c.dim() == 0 ? c : c.reshape({c.size(0), 1});
  }
  // c_noise on the scale of the time embedding (about the range of 1000 t).
  at::Tensor NoiseLabel(const EdmScalings& c, const at::Tensor& x) const {
    return (c.c_noise.flatten() * 250).expand({x.size(0)}).to(torch::kFloat32).contiguous();
  }

  // Class index for the embedding: kNullLabel (or no label) -> K.
  at::Tensor LabelIndex(const Condition& condition, const at::Tensor& x) const {
    if (num_classes_ == 0) return at::Tensor();
    if (!condition.label.defined()) return torch::full({x.size(0)}, num_classes_, torch::kLong);
    return torch::where(condition.label.lt(0), torch::full_like(condition.label, num_classes_),
                        condition.label);
  }

  // alpha(t) and sigma(t), broadcastable against x in x's dtype.
  std::pair<at::Tensor, at::Tensor> AlphaSigma(const Time& t, const at::Tensor& x) const {
    if (t.is_shared()) {
      return {torch::scalar_tensor(gaussian_->Alpha(t.shared()), x.scalar_type()),
              torch::scalar_tensor(gaussian_->Sigma(t.shared()), x.scalar_type())};
    }
    return {BroadcastPerSample(gaussian_->Alpha(t.per_sample()), x),
            BroadcastPerSample(gaussian_->Sigma(t.per_sample()), x)};
  }

  MlpDenoiser net_;
  Parameterization kind_;
  double sigma_data_;
  const GaussianCoefficients* gaussian_;
  double time_scale_;
  int64_t num_classes_;
  bool null_label_;
};

absl::StatusOr<std::unique_ptr<X0Predictor>> Make(const MlpOptions& options,
                                                  const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("hidden", options.hidden(), 1, 8192));
  ABSL_RETURN_IF_ERROR(CheckInRange("blocks", options.blocks(), 1, 64));
  ABSL_RETURN_IF_ERROR(CheckInRange("time_embedding_dim", options.time_embedding_dim(), 2, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("sigma_data", options.sigma_data(), 1e-9, 1000));
  if (options.time_embedding_dim() % 2 != 0) {
    return absl::InvalidArgumentError("option time_embedding_dim must be even");
  }
  const GaussianCoefficients* gaussian = context.forward->gaussian();
  if (options.parameterization() != X0 && gaussian == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "option parameterization ", Parameterization_Name(options.parameterization()),
        " needs a forward process with Gaussian coefficients; forward '",
        context.config->forward().name(), "' has none (use X0)"));
  }
  if (options.parameterization() == EPS &&
      gaussian->Alpha(context.forward->time_domain().t_max()) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "option parameterization EPS cannot recover x0 where alpha(t) = 0, and forward '",
        context.config->forward().name(), "' reaches alpha = 0 at t_max (use V or X0)"));
  }
  // Samples of any shape are flattened (an MLP on images is a baseline, not a U-Net).
  int64_t data_dim = 1;
  for (int64_t d : context.data->sample_shape()) data_dim *= d;
  int64_t num_classes = 0;
  if (options.class_conditional()) {
    num_classes = context.data->num_classes();
    if (num_classes == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "option class_conditional needs labelled data; data '",
          context.config->data().name(), "' has no labels"));
    }
  }
  // Parameter initialization draws from LibTorch's global generator: seed it so a pipeline
  // starts from the same weights every time (training.seed).
  torch::manual_seed(context.config->training().seed());
  MlpDenoiser net(MlpDenoiserOptions(data_dim)
                      .hidden(options.hidden())
                      .blocks(options.blocks())
                      .time_embedding_dim(options.time_embedding_dim())
                      .num_classes(num_classes));
  const bool null_label = num_classes > 0 && context.config->training().condition_dropout() > 0;
  return std::unique_ptr<X0Predictor>(
      new MlpPredictor(std::move(net), options.parameterization(), options.sigma_data(), gaussian,
                       1000.0 / context.forward->time_domain().t_max(), num_classes,
                       null_label));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(X0Predictor, "mlp", MlpOptions, Make);

}  // namespace diffuse
