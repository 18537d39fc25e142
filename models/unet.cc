// Predictor "unet": see unet.proto.
#include "models/unet.h"

#include <cmath>
#include <limits>
#include <memory>

#include <ATen/core/grad_mode.h>
#include <torch/enum.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "models/mlp.h"  // SinusoidalEmbedding
#include "models/network_predictor.h"
#include "models/unet.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {

namespace F = torch::nn::functional;

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out, int64_t emb_dim, int64_t groups,
                           int64_t latent_dim) {
  norm1_ = register_module("norm1", torch::nn::GroupNorm(groups, in));
  conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
  if (emb_dim > 0) emb_ = register_module("emb", torch::nn::Linear(emb_dim, 2 * out));
  if (latent_dim > 0) cond_ = register_module("cond", torch::nn::Linear(latent_dim, out));
  norm2_ = register_module("norm2", torch::nn::GroupNorm(
                                        torch::nn::GroupNormOptions(groups, out).affine(emb_dim == 0)));
  conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(out, out, 3).padding(1)));
  // Zero-initialized last convolution: every block starts as the identity (Ho et al. 2020).
  at::NoGradGuard no_grad;
  conv2_->weight.zero_();
  conv2_->bias.zero_();
  if (in != out) skip_ = register_module("skip", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 1)));
}

at::Tensor ResBlockImpl::forward(const at::Tensor& x, const at::Tensor& emb, const at::Tensor& z) {
  at::Tensor h = norm2_(conv1_(torch::silu(norm1_(x))));
  if (emb_) {
    // AdaGN (Dhariwal & Nichol 2021, sec. 3): GroupNorm(h) (1 + scale) + shift.
    const std::vector<at::Tensor> ss = emb_(torch::silu(emb)).unsqueeze(-1).unsqueeze(-1).chunk(2, 1);
    h = h * (1 + ss[0]) + ss[1];
  }
  if (cond_) {
    TORCH_CHECK(z.defined(), "this U-Net is conditioned on a latent; Condition::latent is unset");
    h = h * (1 + cond_(torch::silu(z)).unsqueeze(-1).unsqueeze(-1));
  }
  h = conv2_(torch::silu(h));
  return (skip_ ? skip_(x) : x) + h;
}

AttentionImpl::AttentionImpl(int64_t channels, int64_t groups) {
  norm_ = register_module("norm", torch::nn::GroupNorm(groups, channels));
  qkv_ = register_module("qkv", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 3 * channels, 1)));
  proj_ = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1)));
  at::NoGradGuard no_grad;
  proj_->weight.zero_();
  proj_->bias.zero_();
}

at::Tensor AttentionImpl::forward(const at::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), n = x.size(2) * x.size(3);
  // reshape, not view: x may be channels-last.
  const std::vector<at::Tensor> qkv = qkv_(norm_(x)).reshape({b, 3, c, n}).unbind(1);
  const at::Tensor weights =
      torch::softmax(torch::bmm(qkv[0].transpose(1, 2), qkv[1]) / std::sqrt(double(c)), -1);
  const at::Tensor out = torch::bmm(qkv[2], weights.transpose(1, 2)).view(x.sizes());
  return x + proj_(out);
}

CrossAttentionImpl::CrossAttentionImpl(int64_t channels, int64_t context_dim, int64_t heads,
                                       int64_t groups)
    : heads_(heads) {
  norm_ = register_module("norm", torch::nn::GroupNorm(groups, channels));
  query_ = register_module("query", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1)));
  key_ = register_module("key", torch::nn::Linear(context_dim, channels));
  value_ = register_module("value", torch::nn::Linear(context_dim, channels));
  proj_ = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, channels, 1)));
  at::NoGradGuard no_grad;
  proj_->weight.zero_();
  proj_->bias.zero_();
}

at::Tensor CrossAttentionImpl::forward(const at::Tensor& x, const at::Tensor& context,
                                       const at::Tensor& mask) {
  const int64_t b = x.size(0), c = x.size(1), n = x.size(2) * x.size(3), l = context.size(1);
  const int64_t d = c / heads_;
  const at::Tensor q = query_(norm_(x)).reshape({b, heads_, d, n}).transpose(2, 3);  // [B,h,N,d]
  const at::Tensor k = key_(context).view({b, l, heads_, d}).permute({0, 2, 3, 1});   // [B,h,d,L]
  const at::Tensor v = value_(context).view({b, l, heads_, d}).transpose(1, 2);       // [B,h,L,d]
  at::Tensor scores = at::matmul(q, k) / std::sqrt(double(d));                        // [B,h,N,L]
  scores = scores.masked_fill(mask.logical_not().view({b, 1, 1, l}),
                              -std::numeric_limits<double>::infinity());
  const at::Tensor out = at::matmul(torch::softmax(scores, -1), v);  // [B,h,N,d]
  return x + proj_(out.transpose(2, 3).reshape(x.sizes()));
}

UNetImpl::UNetImpl(const UNetConfig& config) : config_(config) {
  const int64_t base = config.base_channels, emb_dim = 4 * base, g = config.groups;
  time1_ = register_module("time1", torch::nn::Linear(base, emb_dim));
  time2_ = register_module("time2", torch::nn::Linear(emb_dim, emb_dim));
  if (config.num_classes > 0) {
    class_ = register_module("class_embedding", torch::nn::Embedding(config.num_classes + 1, emb_dim));
  }
  input_ = register_module("input", torch::nn::Conv2d(torch::nn::Conv2dOptions(config.in_channels, base, 3).padding(1)));
  down_blocks_ = register_module("down_blocks", torch::nn::ModuleList());
  down_attn_ = register_module("down_attn", torch::nn::ModuleList());
  downsample_ = register_module("downsample", torch::nn::ModuleList());
  up_blocks_ = register_module("up_blocks", torch::nn::ModuleList());
  if (config.context_dim > 0) {
    down_cross_ = register_module("down_cross", torch::nn::ModuleList());
    up_cross_ = register_module("up_cross", torch::nn::ModuleList());
  }
  auto cross = [&](int64_t channels) {
    return CrossAttention(channels, config.context_dim, config.cross_attention_heads, g);
  };
  up_attn_ = register_module("up_attn", torch::nn::ModuleList());
  upsample_ = register_module("upsample", torch::nn::ModuleList());
  auto attends = [&](int64_t res) {
    return std::find(config.attention_resolutions.begin(), config.attention_resolutions.end(),
                     res) != config.attention_resolutions.end();
  };
  std::vector<int64_t> skip_channels{base};
  int64_t ch = base, res = config.resolution;
  const int64_t levels = config.channel_mult.size();
  for (int64_t level = 0; level < levels; ++level) {
    const int64_t out = base * config.channel_mult[level];
    for (int64_t i = 0; i < config.num_res_blocks; ++i) {
      down_blocks_->push_back(ResBlock(ch, out, emb_dim, g, config.latent_dim));
      down_has_attn_.push_back(attends(res));
      if (attends(res)) down_attn_->push_back(Attention(out, g));
      if (attends(res) && down_cross_) down_cross_->push_back(cross(out));
      ch = out;
      skip_channels.push_back(ch);
    }
    if (level + 1 < levels) {
      downsample_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 3).stride(2).padding(1)));
      skip_channels.push_back(ch);
      res = (res + 1) / 2;
    }
  }
  mid1_ = register_module("mid1", ResBlock(ch, ch, emb_dim, g, config.latent_dim));
  mid_attn_ = register_module("mid_attn", Attention(ch, g));
  if (config.context_dim > 0) mid_cross_ = register_module("mid_cross", cross(ch));
  mid2_ = register_module("mid2", ResBlock(ch, ch, emb_dim, g, config.latent_dim));
  for (int64_t level = levels - 1; level >= 0; --level) {
    const int64_t out = base * config.channel_mult[level];
    for (int64_t i = 0; i <= config.num_res_blocks; ++i) {
      const int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      up_blocks_->push_back(ResBlock(ch + skip, out, emb_dim, g, config.latent_dim));
      up_has_attn_.push_back(attends(res));
      if (attends(res)) up_attn_->push_back(Attention(out, g));
      if (attends(res) && up_cross_) up_cross_->push_back(cross(out));
      ch = out;
    }
    if (level > 0) {
      upsample_->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 3).padding(1)));
      res *= 2;
    }
  }
  out_norm_ = register_module("out_norm", torch::nn::GroupNorm(g, ch));
  output_ = register_module("output", torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, config.out_channels, 3).padding(1)));
  at::NoGradGuard no_grad;
  output_->weight.zero_();
  output_->bias.zero_();
}

at::Tensor UNetImpl::forward(const at::Tensor& x, const at::Tensor& time, const at::Tensor& label,
                             const at::Tensor& latent,
                             const std::function<at::Tensor(const at::Tensor&)>& hook,
                             const at::Tensor& context, const at::Tensor& context_mask) {
  TORCH_CHECK(config_.context_dim == 0 || (context.defined() && context_mask.defined()),
              "this U-Net reads token states by cross-attention; Condition::context is unset");
  // Self-attention number i, then its cross-attention (when the U-Net has them).
  auto attend = [&](torch::nn::ModuleList& attn, torch::nn::ModuleList& cross, size_t i,
                    const at::Tensor& h) {
    const at::Tensor a = attn[i]->as<AttentionImpl>()->forward(h);
    return cross ? cross[i]->as<CrossAttentionImpl>()->forward(a, context, context_mask) : a;
  };
  at::Tensor emb = time2_(torch::silu(time1_(SinusoidalEmbedding(time, config_.base_channels))));
  if (label.defined()) emb = emb + class_(label);
  at::Tensor h = input_(x);
  std::vector<at::Tensor> skips{h};
  const int64_t levels = config_.channel_mult.size();
  size_t block = 0, attn = 0, down = 0;
  for (int64_t level = 0; level < levels; ++level) {
    for (int64_t i = 0; i < config_.num_res_blocks; ++i, ++block) {
      h = down_blocks_[block]->as<ResBlockImpl>()->forward(h, emb, latent);
      if (down_has_attn_[block]) h = attend(down_attn_, down_cross_, attn++, h);
      skips.push_back(h);
    }
    if (level + 1 < levels) {
      h = downsample_[down++]->as<torch::nn::Conv2dImpl>()->forward(h);
      skips.push_back(h);
    }
  }
  h = mid_attn_(mid1_(h, emb, latent));
  if (mid_cross_) h = mid_cross_(h, context, context_mask);
  h = mid2_(h, emb, latent);
  if (hook) h = hook(h);  // h-space
  block = 0, attn = 0;
  size_t up = 0;
  for (int64_t level = levels - 1; level >= 0; --level) {
    for (int64_t i = 0; i <= config_.num_res_blocks; ++i, ++block) {
      h = up_blocks_[block]->as<ResBlockImpl>()->forward(torch::cat({h, skips.back()}, 1), emb,
                                                         latent);
      skips.pop_back();
      if (up_has_attn_[block]) h = attend(up_attn_, up_cross_, attn++, h);
    }
    if (level > 0) {
      const at::Tensor& target = skips.back();
      h = F::interpolate(h, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{target.size(2), target.size(3)})
                                .mode(torch::kNearest));
      h = upsample_[up++]->as<torch::nn::Conv2dImpl>()->forward(h);
    }
  }
  return output_(torch::silu(out_norm_(h)));
}

namespace {

class UNetPredictor : public NetworkPredictor {
 public:
  UNetPredictor(UNet net, NetworkPredictorOptions options)
      : NetworkPredictor(std::move(options)), net_(std::move(net)) {}

  torch::nn::Module& module() override { return *net_; }

  absl::Status SetBottleneckHook(BottleneckHook hook) override {
    hook_ = std::move(hook);
    return absl::OkStatus();
  }

 protected:
  at::Tensor Network(const at::Tensor& x, const at::Tensor& time, const Time& t,
                     const at::Tensor& label, const Condition& c) override {
    const at::Tensor input =
        conditions().image_channels > 0 ? torch::cat({x, c.image.to(x.scalar_type())}, 1) : x;
    std::function<at::Tensor(const at::Tensor&)> hook;
    if (hook_) hook = [this, &t](const at::Tensor& h) { return hook_(h, t); };
    const bool text = conditions().context_dim > 0;
    return net_(input, time, label, conditions().latent_dim > 0 ? c.latent : at::Tensor(), hook,
                text ? c.context.to(x.scalar_type()) : at::Tensor(),
                text ? c.context_mask : at::Tensor());
  }

 private:
  UNet net_;
  BottleneckHook hook_;
};

absl::StatusOr<std::unique_ptr<X0Predictor>> Make(const UNetOptions& o, const BuildContext& context) {
  const int64_t token_classes = context.data->num_token_classes();
  if (token_classes > 0 && o.parameterization() != X0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "on token data (data '", context.config->data().name(), "' has ", token_classes,
        " token classes) the U-Net predicts logits of x0: option parameterization must be X0"));
  }
  if (token_classes > 1024) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data '", context.config->data().name(), "' has ", token_classes,
        " token classes; the U-Net outputs one logit channel each (at most 1024)"));
  }
  ABSL_RETURN_IF_ERROR(CheckParameterization(o.parameterization(), context));
  ABSL_RETURN_IF_ERROR(CheckInRange("sigma_data", o.sigma_data(), 1e-9, 1000));
  ABSL_RETURN_IF_ERROR(CheckInRange("base_channels", o.base_channels(), 1, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_res_blocks", o.num_res_blocks(), 1, 8));
  ABSL_RETURN_IF_ERROR(CheckInRange("groups", o.groups(), 1, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("latent_dim", o.latent_dim(), 0, 65536));
  ABSL_RETURN_IF_ERROR(CheckInRange("image_channels", o.image_channels(), 0, 64));
  ABSL_RETURN_IF_ERROR(CheckInRange("context_dim", o.context_dim(), 0, 65536));
  ABSL_RETURN_IF_ERROR(CheckInRange("cross_attention_heads", o.cross_attention_heads(), 1, 64));
  const std::vector<int64_t> shape = context.data->sample_shape();
  if (shape.size() != 3) {
    return absl::FailedPreconditionError(absl::StrCat(
        "needs image data [C, H, W]; data '", context.config->data().name(), "' is not"));
  }
  UNetConfig config;
  // Token data: a value and a mask channel in (TokenInput), K logits out per data channel.
  config.in_channels = (token_classes > 0 ? 2 * shape[0] : shape[0]) + o.image_channels();
  config.out_channels = token_classes > 0 ? shape[0] * token_classes : shape[0];
  config.base_channels = o.base_channels();
  if (o.channel_mult_size() > 0) config.channel_mult.assign(o.channel_mult().begin(), o.channel_mult().end());
  if (o.attention_resolutions_size() > 0 || o.channel_mult_size() > 0) {
    config.attention_resolutions.assign(o.attention_resolutions().begin(), o.attention_resolutions().end());
  }
  config.num_res_blocks = o.num_res_blocks();
  config.resolution = shape[1];
  config.groups = o.groups();
  for (int64_t m : config.channel_mult) {
    if (m < 1 || m > 64) return absl::InvalidArgumentError(absl::StrCat("option channel_mult has ", m, " (range [1, 64])"));
    if (o.context_dim() > 0 && (o.base_channels() * m) % o.cross_attention_heads() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option cross_attention_heads = ", o.cross_attention_heads(), " does not divide ",
          o.base_channels() * m, " channels"));
    }
    if ((o.base_channels() * m) % o.groups() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option groups = ", o.groups(), " does not divide ", o.base_channels() * m, " channels"));
    }
  }
  const int64_t down = int64_t{1} << (config.channel_mult.size() - 1);
  if (shape[1] % down != 0 || shape[2] % down != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "option channel_mult has ", config.channel_mult.size(), " levels: H and W must be divisible by ",
        down, ", the data is ", shape[1], " x ", shape[2]));
  }
  NetworkPredictorOptions predictor;
  if (o.class_conditional()) {
    config.num_classes = context.data->num_classes();
    if (config.num_classes == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "option class_conditional needs labelled data; data '", context.config->data().name(),
          "' has no labels"));
    }
    predictor.conditions.num_classes = config.num_classes;
    predictor.conditions.null_label = context.config->training().condition_dropout() > 0;
  }
  config.latent_dim = o.latent_dim();
  config.context_dim = o.context_dim();
  config.cross_attention_heads = o.cross_attention_heads();
  predictor.conditions.latent_dim = o.latent_dim();
  predictor.conditions.context_dim = o.context_dim();
  predictor.conditions.image_channels = o.image_channels();
  predictor.kind = o.parameterization();
  predictor.token_classes = token_classes;
  predictor.sigma_data = o.sigma_data();
  predictor.gaussian = context.forward->gaussian();
  if (context.forward->HasOffset()) predictor.offset_forward = context.forward;
  predictor.time_scale = 1000.0 / context.forward->network_time_domain().t_max();
  at::manual_seed(context.config->training().seed());  // the same initial weights per seed
  return std::unique_ptr<X0Predictor>(new UNetPredictor(UNet(config), std::move(predictor)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(X0Predictor, "unet", UNetOptions, Make);

}  // namespace diffuse
