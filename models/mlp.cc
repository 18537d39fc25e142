// Predictor "mlp": MlpDenoiser behind the x0 interface, trainable as eps, x0 or v.
#include "models/mlp.h"

#include <cmath>
#include <memory>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include "data/dataset.h"
#include "forward/gaussian.h"
#include "models/mlp.pb.h"
#include "models/network_predictor.h"
#include "models/parameterization.h"
#include "models/trainable_model.h"
#include "models/x0_predictor.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {

at::Tensor SinusoidalEmbedding(const at::Tensor& time, int64_t dim) {
  const int64_t half = dim / 2;
  // float32, or float64 for a network converted to float64 (SamplerOptions.dtype).
  const auto type = time.scalar_type() == torch::kFloat64 ? torch::kFloat64 : torch::kFloat32;
  const at::Tensor freqs =
      torch::exp(torch::arange(half, type) * (-std::log(10000.0) / half));
  const at::Tensor args = time.to(type).unsqueeze(1) * freqs.unsqueeze(0);
  return torch::cat({args.sin(), args.cos()}, 1);
}

MlpDenoiserImpl::MlpDenoiserImpl(const MlpDenoiserOptions& options) : options(options) {
  reset();
}

void MlpDenoiserImpl::reset() {
  const int64_t h = options.hidden();
  time_in_ = register_module("time_in", torch::nn::Linear(options.time_embedding_dim(), h));
  time_out_ = register_module("time_out", torch::nn::Linear(h, h));
  const int64_t features = options.fourier_features();
  input_ = register_module("input", torch::nn::Linear(options.data_dim() + 2 * features, h));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.blocks(); ++i) blocks_->push_back(torch::nn::Linear(h, h));
  output_ = register_module("output", torch::nn::Linear(h, options.data_dim()));
  if (options.num_classes() > 0) {
    class_embedding_ = register_module(
        "class_embedding", torch::nn::Embedding(options.num_classes() + 1, h));
  }
  if (features > 0) {
    // Drawn from the global generator, which Make seeds with training.seed.
    fourier_frequencies_ = register_buffer(
        "fourier_frequencies",
        torch::randn({features, options.data_dim()}) * options.fourier_scale());
  }
}

at::Tensor MlpDenoiserImpl::forward(const at::Tensor& x, const at::Tensor& time,
                                    const at::Tensor& label) {
  at::Tensor c = time_out_(torch::silu(time_in_(SinusoidalEmbedding(time, options.time_embedding_dim()))));
  if (label.defined()) c = c + class_embedding_(label);
  at::Tensor h;
  if (fourier_frequencies_.defined()) {
    const at::Tensor angle = (2 * M_PI) * torch::matmul(x, fourier_frequencies_.t());
    h = input_(torch::cat({x, angle.sin(), angle.cos()}, 1));
  } else {
    h = input_(x);
  }
  for (const auto& block : *blocks_) {
    h = h + block->as<torch::nn::Linear>()->forward(torch::silu(h + c));
  }
  return output_(torch::silu(h));
}

namespace {

class MlpPredictor : public NetworkPredictor {
 public:
  MlpPredictor(MlpDenoiser net, NetworkPredictorOptions options)
      : NetworkPredictor(std::move(options)), net_(std::move(net)) {}

  torch::nn::Module& module() override { return *net_; }

 protected:
  // Samples of any shape are flattened.
  at::Tensor Network(const at::Tensor& x, const at::Tensor& time, const Time&,
                     const at::Tensor& label, const Condition&) override {
    return net_(x.flatten(1), time, label).view(x.sizes());
  }

 private:
  MlpDenoiser net_;
};

absl::StatusOr<std::unique_ptr<X0Predictor>> Make(const MlpOptions& options,
                                                  const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("hidden", options.hidden(), 1, 8192));
  ABSL_RETURN_IF_ERROR(CheckInRange("blocks", options.blocks(), 1, 64));
  ABSL_RETURN_IF_ERROR(CheckInRange("time_embedding_dim", options.time_embedding_dim(), 2, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("sigma_data", options.sigma_data(), 1e-9, 1000));
  ABSL_RETURN_IF_ERROR(CheckInRange("fourier_features", options.fourier_features(), 0, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("fourier_scale", options.fourier_scale(), 1e-9, 1000));
  if (options.time_embedding_dim() % 2 != 0) {
    return absl::InvalidArgumentError("option time_embedding_dim must be even");
  }
  ABSL_RETURN_IF_ERROR(CheckParameterization(options.parameterization(), context));
  const GaussianCoefficients* gaussian = context.forward->gaussian();
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
  at::manual_seed(context.config->training().seed());
  MlpDenoiser net(MlpDenoiserOptions(data_dim)
                      .hidden(options.hidden())
                      .blocks(options.blocks())
                      .time_embedding_dim(options.time_embedding_dim())
                      .num_classes(num_classes)
                      .fourier_features(options.fourier_features())
                      .fourier_scale(options.fourier_scale()));
  const bool null_label = num_classes > 0 && context.config->training().condition_dropout() > 0;
  NetworkPredictorOptions predictor;
  predictor.kind = options.parameterization();
  predictor.sigma_data = options.sigma_data();
  predictor.gaussian = gaussian;
  if (context.forward->HasOffset()) predictor.offset_forward = context.forward;
  predictor.time_scale = 1000.0 / context.forward->network_time_domain().t_max();
  predictor.conditions.num_classes = num_classes;
  predictor.conditions.null_label = null_label;
  return std::unique_ptr<X0Predictor>(new MlpPredictor(std::move(net), std::move(predictor)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(X0Predictor, "mlp", MlpOptions, Make);

}  // namespace diffuse
