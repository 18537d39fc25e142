// The downsampling half of the U-Net, pooled to one vector per image: DiffAE's semantic
// encoder (Preechakul et al. 2022, sec. 3.1) and guided-diffusion's noisy classifier
// (Dhariwal & Nichol 2021, app. C) are both this network with another output width.
#ifndef DIFFUSE_MODELS_POOLED_CONV_NET_H_
#define DIFFUSE_MODELS_POOLED_CONV_NET_H_

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "absl/status/statusor.h"
#include "pipeline/build_context.h"

namespace diffuse {

struct PooledConvNetConfig {
  int64_t in_channels = 1;
  int64_t out_features = 64;
  int64_t base_channels = 32;
  std::vector<int64_t> channel_mult = {1, 2, 2};
  int64_t num_res_blocks = 1;
  int64_t groups = 8;
  // Heights at which self-attention follows each residual block.
  std::vector<int64_t> attention_resolutions;
  int64_t resolution = 28;  // input height
  // A time input as in the U-Net: sinusoidal embedding of t on the 0..1000 scale, SiLU MLP,
  // adaptive GroupNorm in every residual block.
  bool time_input = false;
  // > 0: no pooling; GroupNorm, SiLU and a 3x3 convolution to this many channels at the
  // lowest resolution, flattened: [B, spatial_out_channels * h * w] (out_features unused).
  int64_t spatial_out_channels = 0;
};

// The shape of a code z: [latent_dim], or, with latent_channels > 0, a spatial code
// [latent_channels, h, w] at the lowest of `levels` levels of images [C, H, W] (H and W
// halved, rounded up, once per level after the first: what the stride-2 convolutions
// give). INVALID_ARGUMENT names option latent_channels for a code over 65536 numbers.
absl::StatusOr<std::vector<int64_t>> LatentShape(int64_t latent_dim, int64_t latent_channels,
                                                 const std::vector<int64_t>& image_shape,
                                                 int64_t levels);

// The [C, H, W] shape of the description's data; FAILED_PRECONDITION naming the data when
// it is not real-valued images (what the convolutional networks here read).
absl::StatusOr<std::vector<int64_t>> ImageDataShape(const BuildContext& context);

// Checks options channel_mult (each in [1, 64]; empty means [1, 2, 2]) and groups (dividing
// every level's channels) and returns the multipliers; errors name the option.
absl::StatusOr<std::vector<int64_t>> CheckedChannelMult(
    std::vector<int64_t> mult, int64_t base_channels,
    int64_t groups);

// input convolution -> per level: num_res_blocks residual blocks (each with attention at
// the listed resolutions), a stride-2 convolution except after the last level -> GroupNorm,
// SiLU, mean over H x W -> linear map to out_features (or, with spatial_out_channels, a
// 3x3 convolution and no pooling). Submodule names (checkpoint keys): input, blocks.N, norm,
// out (or out_conv), time1, time2.
class PooledConvNetImpl : public torch::nn::Module {
 public:
  explicit PooledConvNetImpl(const PooledConvNetConfig& config);
  // x [B, C, H, W]; time [B] on the 0..1000 scale (read only with time_input) -> [B, out].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& time);

 private:
  torch::nn::Conv2d input_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Linear out_{nullptr};
  torch::nn::Conv2d out_conv_{nullptr};
  torch::nn::Linear time1_{nullptr}, time2_{nullptr};
  int64_t time_channels_ = 0;
};
TORCH_MODULE(PooledConvNet);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_POOLED_CONV_NET_H_
