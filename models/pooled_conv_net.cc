#include "models/pooled_conv_net.h"

#include <algorithm>

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "models/mlp.h"   // SinusoidalEmbedding
#include "models/unet.h"  // ResBlock, Attention
#include "pipeline/pipeline.pb.h"

namespace diffuse {

absl::StatusOr<std::vector<int64_t>> ImageDataShape(const BuildContext& context) {
  std::vector<int64_t> shape = context.data->sample_shape();
  if (shape.size() != 3 || context.data->num_token_classes() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "needs real-valued image data [C, H, W]; data '", context.config->data().name(),
        "' is not"));
  }
  return shape;
}

absl::StatusOr<std::vector<int64_t>> CheckedChannelMult(
    std::vector<int64_t> mult, int64_t base_channels,
    int64_t groups) {
  if (mult.empty()) mult = {1, 2, 2};
  for (int64_t m : mult) {
    if (m < 1 || m > 64) {
      return absl::InvalidArgumentError(absl::StrCat("option channel_mult has ", m, " (range [1, 64])"));
    }
    if ((base_channels * m) % groups != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option groups = ", groups, " does not divide ", base_channels * m, " channels"));
    }
  }
  return mult;
}

absl::StatusOr<std::vector<int64_t>> LatentShape(int64_t latent_dim, int64_t latent_channels,
                                                 const std::vector<int64_t>& image_shape,
                                                 int64_t levels) {
  if (latent_channels == 0) return std::vector<int64_t>{latent_dim};
  int64_t h = image_shape[1], w = image_shape[2];
  for (int64_t level = 1; level < levels; ++level) {
    h = (h + 1) / 2;
    w = (w + 1) / 2;
  }
  if (latent_channels * h * w > 65536) {
    return absl::InvalidArgumentError(absl::StrCat("option latent_channels = ", latent_channels,
                                                   " gives a code of ", latent_channels * h * w,
                                                   " numbers (at most 65536)"));
  }
  return std::vector<int64_t>{latent_channels, h, w};
}

PooledConvNetImpl::PooledConvNetImpl(const PooledConvNetConfig& c) {
  const int64_t base = c.base_channels, g = c.groups;
  const int64_t emb_dim = c.time_input ? 4 * base : 0;  // the U-Net's embedding width
  if (c.time_input) {
    time1_ = register_module("time1", torch::nn::Linear(base, emb_dim));
    time2_ = register_module("time2", torch::nn::Linear(emb_dim, emb_dim));
  }
  time_channels_ = base;
  input_ = register_module("input", torch::nn::Conv2d(
                                        torch::nn::Conv2dOptions(c.in_channels, base, 3).padding(1)));
  blocks_ = register_module("blocks", torch::nn::ModuleList());
  int64_t ch = base, res = c.resolution;
  for (size_t level = 0; level < c.channel_mult.size(); ++level) {
    const int64_t out = base * c.channel_mult[level];
    for (int64_t i = 0; i < c.num_res_blocks; ++i) {
      blocks_->push_back(ResBlock(ch, out, emb_dim, g));
      ch = out;
      if (std::count(c.attention_resolutions.begin(), c.attention_resolutions.end(), res) > 0) {
        blocks_->push_back(Attention(ch, g));
      }
    }
    if (level + 1 < c.channel_mult.size()) {
      blocks_->push_back(
          torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 3).stride(2).padding(1)));
      res = (res + 1) / 2;
    }
  }
  norm_ = register_module("norm", torch::nn::GroupNorm(g, ch));
  if (c.spatial_out_channels > 0) {
    out_conv_ = register_module(
        "out_conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, c.spatial_out_channels, 3).padding(1)));
  } else {
    out_ = register_module("out", torch::nn::Linear(ch, c.out_features));
  }
}

at::Tensor PooledConvNetImpl::forward(const at::Tensor& x, const at::Tensor& time) {
  at::Tensor emb;
  if (time1_) emb = time2_(torch::silu(time1_(SinusoidalEmbedding(time, time_channels_))));
  at::Tensor h = input_(x);
  for (const auto& block : *blocks_) {
    if (auto* res = block->as<ResBlockImpl>()) {
      h = res->forward(h, emb);
    } else if (auto* attention = block->as<AttentionImpl>()) {
      h = attention->forward(h);
    } else {
      h = block->as<torch::nn::Conv2dImpl>()->forward(h);
    }
  }
  if (out_conv_) return out_conv_(torch::silu(norm_(h))).flatten(1);
  return out_(torch::silu(norm_(h)).mean({2, 3}));
}

}  // namespace diffuse
