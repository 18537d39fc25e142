// Decoder "conv_decoder": see conv_decoder.proto.
#include <cmath>
#include <memory>
#include <vector>

#include <c10/util/accumulate.h>
#include <torch/enum.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "models/conv_decoder.pb.h"
#include "models/decoder.h"
#include "models/pooled_conv_net.h"  // CheckedChannelMult, LatentShape
#include "models/unet.h"  // ResBlock
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

namespace F = torch::nn::functional;

class ConvDecoderNetImpl : public torch::nn::Module {
 public:
  ConvDecoderNetImpl(const std::vector<int64_t>& image_shape, const ConvDecoderOptions& o,
                     const std::vector<int64_t>& mult)
      : channels_(image_shape[0]), latent_channels_(o.latent_channels()) {
    const int64_t base = o.base_channels(), g = o.groups();
    // Spatial size per level: halved (rounded up) once per level after the first.
    int64_t h = image_shape[1], w = image_shape[2];
    for (size_t level = 0; level < mult.size(); ++level) {
      sizes_.push_back({h, w});
      h = (h + 1) / 2;
      w = (w + 1) / 2;
    }
    const int64_t lowest = base * mult.back();
    if (latent_channels_ > 0) {
      input_conv_ = register_module(
          "input_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(latent_channels_, lowest, 3).padding(1)));
    } else {
      input_ = register_module(
          "input", torch::nn::Linear(o.latent_dim(), lowest * sizes_.back()[0] * sizes_.back()[1]));
    }
    blocks_ = register_module("blocks", torch::nn::ModuleList());
    int64_t ch = lowest;
    for (size_t level = mult.size(); level-- > 0;) {
      const int64_t out = base * mult[level];
      for (int64_t i = 0; i < o.num_res_blocks(); ++i) {
        blocks_->push_back(ResBlock(ch, out, /*emb_dim=*/0, g));
        ch = out;
      }
      if (level > 0) {
        blocks_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 3).padding(1)));
      }
    }
    norm_ = register_module("norm", torch::nn::GroupNorm(g, ch));
    out_ = register_module("out", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, channels_, 3).padding(1)));
    // A fixed std is a buffer: checkpointed, never optimized.
    const at::Tensor log_std = torch::full({}, std::log(o.observation_std()));
    log_std_ = o.learn_observation_std() ? register_parameter("log_std", log_std)
                                         : register_buffer("log_std", log_std);
  }

  ObservationModel forward(const at::Tensor& z) {
    size_t level = sizes_.size() - 1;
    const std::vector<int64_t>& low = sizes_[level];
    at::Tensor h = latent_channels_ > 0
                       ? input_conv_(z.view({z.size(0), latent_channels_, low[0], low[1]}))
                       : input_(z).view({z.size(0), -1, low[0], low[1]});
    for (const auto& block : *blocks_) {
      if (auto* res = block->as<ResBlockImpl>()) {
        h = res->forward(h, at::Tensor());
      } else {
        // Nearest-neighbour upsampling to the next level's exact size, then a convolution.
        --level;
        h = F::interpolate(h, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>{sizes_[level][0], sizes_[level][1]})
                                  .mode(torch::kNearest));
        h = block->as<torch::nn::Conv2dImpl>()->forward(h);
      }
    }
    return {out_(torch::silu(norm_(h))), log_std_};
  }

 private:
  int64_t channels_, latent_channels_;
  std::vector<std::vector<int64_t>> sizes_;
  torch::nn::Linear input_{nullptr};
  torch::nn::Conv2d input_conv_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d out_{nullptr};
  at::Tensor log_std_;
};
TORCH_MODULE(ConvDecoderNet);

class ConvDecoder : public Decoder {
 public:
  ConvDecoder(ConvDecoderNet net, std::vector<int64_t> latent_shape)
      : net_(std::move(net)),
        latent_shape_(std::move(latent_shape)),
        latent_dim_(c10::multiply_integers(latent_shape_)) {}
  int64_t latent_dim() const override { return latent_dim_; }
  std::vector<int64_t> latent_shape() const override { return latent_shape_; }
  ObservationModel Decode(const at::Tensor& z) override { return net_(z); }
  torch::nn::Module& module() override { return *net_; }

 private:
  ConvDecoderNet net_;
  std::vector<int64_t> latent_shape_;
  int64_t latent_dim_;
};

absl::StatusOr<std::unique_ptr<Decoder>> Make(const ConvDecoderOptions& o,
                                              const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("latent_dim", o.latent_dim(), 1, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("base_channels", o.base_channels(), 1, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_res_blocks", o.num_res_blocks(), 1, 8));
  ABSL_RETURN_IF_ERROR(CheckInRange("groups", o.groups(), 1, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("observation_std", o.observation_std(), 1e-4, 10.0));
  ABSL_RETURN_IF_ERROR(CheckInRange("latent_channels", o.latent_channels(), 0, 256));
  if (o.latent_channels() > 0 && o.has_latent_dim()) {
    return absl::InvalidArgumentError(
        "options latent_dim and latent_channels: set one (a spatial code's width is "
        "latent_channels * h * w)");
  }
  ABSL_ASSIGN_OR_RETURN(const std::vector<int64_t> shape, ImageDataShape(context));
  ABSL_ASSIGN_OR_RETURN(std::vector<int64_t> mult,
                        CheckedChannelMult({o.channel_mult().begin(), o.channel_mult().end()},
                                           o.base_channels(), o.groups()));
  ABSL_ASSIGN_OR_RETURN(const std::vector<int64_t> latent_shape,
                        LatentShape(o.latent_dim(), o.latent_channels(), shape,
                                    static_cast<int64_t>(mult.size())));
  at::manual_seed(context.config->training().seed() + 2);  // not the encoder's draws
  return std::unique_ptr<Decoder>(new ConvDecoder(ConvDecoderNet(shape, o, mult), latent_shape));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Decoder, "conv_decoder", ConvDecoderOptions, Make);

}  // namespace diffuse
