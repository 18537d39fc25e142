// Encoder "semantic_encoder": see semantic_encoder.proto.
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "forward/forward_process.h"
#include "models/encoder.h"
#include "models/mlp.h"  // SinusoidalEmbedding
#include "models/semantic_encoder.pb.h"
#include "models/unet.h"  // ResBlock
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class SemanticEncoderNetImpl : public torch::nn::Module {
 public:
  SemanticEncoderNetImpl(int64_t in_channels, const SemanticEncoderOptions& o,
                         const std::vector<int64_t>& mult) {
    const int64_t base = o.base_channels(), g = o.groups();
    // LRDM: the time embedding of the U-Net (width 4 base), feeding every block's AdaGN.
    const int64_t emb_dim = o.time_input() ? 4 * base : 0;
    if (o.time_input()) {
      time1_ = register_module("time1", torch::nn::Linear(base, emb_dim));
      time2_ = register_module("time2", torch::nn::Linear(emb_dim, emb_dim));
    }
    time_channels_ = base;
    input_ = register_module("input", torch::nn::Conv2d(
                                          torch::nn::Conv2dOptions(in_channels, base, 3).padding(1)));
    blocks_ = register_module("blocks", torch::nn::ModuleList());
    int64_t ch = base;
    for (size_t level = 0; level < mult.size(); ++level) {
      const int64_t out = base * mult[level];
      for (int64_t i = 0; i < o.num_res_blocks(); ++i) {
        blocks_->push_back(ResBlock(ch, out, emb_dim, g));
        ch = out;
      }
      if (level + 1 < mult.size()) {
        blocks_->push_back(
            torch::nn::Conv2d(torch::nn::Conv2dOptions(ch, ch, 3).stride(2).padding(1)));
      }
    }
    norm_ = register_module("norm", torch::nn::GroupNorm(g, ch));
    // Gaussian: the mean and the log-variance side by side.
    out_ = register_module("out", torch::nn::Linear(ch, o.latent_dim() * (o.gaussian() ? 2 : 1)));
  }

  // x [B, C, H, W]; time [B] on the 0..1000 scale, read only with time_input.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& time) {
    at::Tensor emb;
    if (time1_) emb = time2_(torch::silu(time1_(SinusoidalEmbedding(time, time_channels_))));
    at::Tensor h = input_(x);
    for (const auto& block : *blocks_) {
      if (auto* res = block->as<ResBlockImpl>()) {
        h = res->forward(h, emb);
      } else {
        h = block->as<torch::nn::Conv2dImpl>()->forward(h);
      }
    }
    // Global average pooling to one vector per image, then z_sem.
    return out_(torch::silu(norm_(h)).mean({2, 3}));
  }

 private:
  torch::nn::Conv2d input_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Linear out_{nullptr};
  torch::nn::Linear time1_{nullptr}, time2_{nullptr};
  int64_t time_channels_ = 0;
};
TORCH_MODULE(SemanticEncoderNet);

class SemanticEncoder : public Encoder {
 public:
  // time_scale > 0: LRDM's time input, t * time_scale.
  SemanticEncoder(SemanticEncoderNet net, int64_t latent_dim, bool gaussian, double time_scale)
      : net_(std::move(net)), latent_dim_(latent_dim), gaussian_(gaussian), time_scale_(time_scale) {}
  int64_t latent_dim() const override { return latent_dim_; }
  bool gaussian() const override { return gaussian_; }
  bool takes_time() const override { return time_scale_ > 0; }
  // x0 comes in the module's dtype (the trainer and EncodeImages cast it once).
  LatentPosterior Encode(const at::Tensor& x0, const Time& t) override {
    at::Tensor time;
    if (time_scale_ > 0) {
      time = t.is_shared() ? torch::full({x0.size(0)}, t.shared() * time_scale_, x0.scalar_type())
                           : (t.per_sample() * time_scale_).to(x0.scalar_type());
    }
    const at::Tensor out = net_(x0, time);
    if (!gaussian_) return {out, at::Tensor()};
    // sigma^2 within [e^-20, e^10]: a variance that underflows to 0 or overflows would make
    // the KL infinite.
    return {out.narrow(1, 0, latent_dim_), out.narrow(1, latent_dim_, latent_dim_).clamp(-20, 10)};
  }
  torch::nn::Module& module() override { return *net_; }

 private:
  SemanticEncoderNet net_;
  int64_t latent_dim_;
  bool gaussian_;
  double time_scale_;
};

absl::StatusOr<std::unique_ptr<Encoder>> Make(const SemanticEncoderOptions& o,
                                              const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("latent_dim", o.latent_dim(), 1, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("base_channels", o.base_channels(), 1, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_res_blocks", o.num_res_blocks(), 1, 8));
  ABSL_RETURN_IF_ERROR(CheckInRange("groups", o.groups(), 1, 1024));
  const std::vector<int64_t> shape = context.data->sample_shape();
  if (shape.size() != 3 || context.data->num_token_classes() > 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "needs real-valued image data [C, H, W]; data '", context.config->data().name(),
        "' is not"));
  }
  std::vector<int64_t> mult(o.channel_mult().begin(), o.channel_mult().end());
  if (mult.empty()) mult = {1, 2, 2};
  for (int64_t m : mult) {
    if (m < 1 || m > 64) {
      return absl::InvalidArgumentError(absl::StrCat("option channel_mult has ", m, " (range [1, 64])"));
    }
    if ((o.base_channels() * m) % o.groups() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option groups = ", o.groups(), " does not divide ", o.base_channels() * m, " channels"));
    }
  }
  double time_scale = 0;
  if (o.time_input()) {
    if (context.forward == nullptr) {
      return absl::FailedPreconditionError(
          "option time_input (LRDM's z_t = E(x0, t)) needs a forward process; an autoencoder "
          "description has none");
    }
    time_scale = 1000.0 / context.forward->network_time_domain().t_max();
  }
  torch::manual_seed(context.config->training().seed() + 1);  // not the predictor's draws
  return std::unique_ptr<Encoder>(new SemanticEncoder(SemanticEncoderNet(shape[0], o, mult),
                                                      o.latent_dim(), o.gaussian(), time_scale));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Encoder, "semantic_encoder", SemanticEncoderOptions, Make);

}  // namespace diffuse
