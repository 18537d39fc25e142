// The U-Net of predictor "unet" (unet.proto) as a LibTorch module.
#ifndef DIFFUSE_MODELS_UNET_H_
#define DIFFUSE_MODELS_UNET_H_

#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "models/x0_predictor.h"

namespace diffuse {

struct UNetConfig {
  int64_t in_channels = 1;     // data channels (+ image condition channels)
  int64_t out_channels = 1;
  int64_t base_channels = 32;
  std::vector<int64_t> channel_mult = {1, 2, 2};
  int64_t num_res_blocks = 1;
  std::vector<int64_t> attention_resolutions = {7};
  int64_t resolution = 28;     // input height
  int64_t groups = 8;
  int64_t num_classes = 0;     // > 0: K + 1 embedding rows (row K: null class)
  int64_t latent_dim = 0;
  int64_t context_dim = 0;  // > 0: cross-attention on token states of this width
  int64_t cross_attention_heads = 4;
};

// Residual block with adaptive group normalization on the time (+ class) embedding and,
// with latent_dim > 0, Diffusion Autoencoders' latent scale (Preechakul et al. 2022, eq. 8):
//   h = z_s (t_s GroupNorm(h) + t_b),  (t_s, t_b) = (1 + s, b) from the embedding,
//   z_s = 1 + W silu(z) + c  (DiffAE's code: condition_bias 1 on a SiLU + linear map of z).
// emb_dim = 0: no embedding (GroupNorm with its own affine), as the semantic encoder uses.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t emb_dim, int64_t groups, int64_t latent_dim = 0);
  // emb [B, emb_dim] (undefined when emb_dim = 0); z [B, latent_dim] or undefined.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb, const at::Tensor& z = {});

 private:
  torch::nn::GroupNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, skip_{nullptr};
  torch::nn::Linear emb_{nullptr}, cond_{nullptr};
};
TORCH_MODULE(ResBlock);

// Single-head self-attention over the H x W positions, residual.
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(int64_t channels, int64_t groups);
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(Attention);

// Multi-head attention from the H x W positions to the tokens of a context [B, L, W]
// (latent diffusion, Rombach et al. 2022, eq. 7), residual; mask [B, L] is true at real
// tokens, and every row keeps at least one.
class CrossAttentionImpl : public torch::nn::Module {
 public:
  CrossAttentionImpl(int64_t channels, int64_t context_dim, int64_t heads, int64_t groups);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& context, const at::Tensor& mask);

 private:
  int64_t heads_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d query_{nullptr}, proj_{nullptr};
  torch::nn::Linear key_{nullptr}, value_{nullptr};
};
TORCH_MODULE(CrossAttention);

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetConfig& config);
  // x [B, C, H, W]; time [B] (float); label [B] int64 or undefined; latent [B, D] or
  // undefined (it scales every residual block, ResBlockImpl). The hook, when set, sees and
  // may replace the bottleneck. context [B, L, W] and mask [B, L] (config.context_dim > 0):
  // the tokens every cross-attention reads.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& time, const at::Tensor& label,
                     const at::Tensor& latent, const std::function<at::Tensor(const at::Tensor&)>& hook,
                     const at::Tensor& context = {}, const at::Tensor& context_mask = {});

 private:
  UNetConfig config_;
  torch::nn::Linear time1_{nullptr}, time2_{nullptr};
  torch::nn::Embedding class_{nullptr};
  torch::nn::Conv2d input_{nullptr}, output_{nullptr};
  torch::nn::GroupNorm out_norm_{nullptr};
  // Encoder: per level, num_res_blocks (block, optional attention), then a downsampling
  // convolution except at the last level. Decoder mirrors it with skip concatenation.
  // With context_dim > 0, down_cross_ / up_cross_ hold one cross-attention per attention.
  torch::nn::ModuleList down_blocks_{nullptr}, down_attn_{nullptr}, downsample_{nullptr};
  torch::nn::ModuleList up_blocks_{nullptr}, up_attn_{nullptr}, upsample_{nullptr};
  torch::nn::ModuleList down_cross_{nullptr}, up_cross_{nullptr};
  ResBlock mid1_{nullptr}, mid2_{nullptr};
  Attention mid_attn_{nullptr};
  CrossAttention mid_cross_{nullptr};
  std::vector<bool> down_has_attn_, up_has_attn_;
};
TORCH_MODULE(UNet);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_UNET_H_
