// Encoder "semantic_encoder": see semantic_encoder.proto.
#include <memory>
#include <vector>

#include <c10/util/accumulate.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "forward/forward_process.h"
#include "models/encoder.h"
#include "models/pooled_conv_net.h"
#include "models/semantic_encoder.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class SemanticEncoder : public Encoder {
 public:
  // time_scale > 0: LRDM's time input, t * time_scale.
  SemanticEncoder(PooledConvNet net, std::vector<int64_t> latent_shape, bool gaussian,
                  double time_scale)
      : net_(std::move(net)),
        latent_shape_(std::move(latent_shape)),
        latent_dim_(c10::multiply_integers(latent_shape_)),
        gaussian_(gaussian),
        time_scale_(time_scale) {}
  int64_t latent_dim() const override { return latent_dim_; }
  std::vector<int64_t> latent_shape() const override { return latent_shape_; }
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
    // A spatial code's mean is the first latent_channels channels, flattened: the first
    // latent_dim elements. sigma^2 within [e^-20, e^10]: a variance that underflows to 0 or
    // overflows would make the KL infinite.
    return {out.narrow(1, 0, latent_dim_), out.narrow(1, latent_dim_, latent_dim_).clamp(-20, 10)};
  }
  torch::nn::Module& module() override { return *net_; }

 private:
  PooledConvNet net_;
  std::vector<int64_t> latent_shape_;
  int64_t latent_dim_;
  bool gaussian_;
  double time_scale_;
};

absl::StatusOr<std::unique_ptr<Encoder>> Make(const SemanticEncoderOptions& o,
                                              const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("latent_dim", o.latent_dim(), 1, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("latent_channels", o.latent_channels(), 0, 256));
  if (o.latent_channels() > 0 && o.has_latent_dim()) {
    return absl::InvalidArgumentError(
        "options latent_dim and latent_channels: set one (a spatial code's width is "
        "latent_channels * h * w)");
  }
  if (o.latent_channels() > 0 && !context.config->has_decoder()) {
    return absl::FailedPreconditionError(
        "option latent_channels: a spatial code is an autoencoder's (read by conv_decoder's "
        "latent_channels); a predictor or text encoder takes a vector z");
  }
  ABSL_RETURN_IF_ERROR(CheckInRange("base_channels", o.base_channels(), 1, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_res_blocks", o.num_res_blocks(), 1, 8));
  ABSL_RETURN_IF_ERROR(CheckInRange("groups", o.groups(), 1, 1024));
  ABSL_ASSIGN_OR_RETURN(const std::vector<int64_t> shape, ImageDataShape(context));
  ABSL_ASSIGN_OR_RETURN(std::vector<int64_t> mult,
                        CheckedChannelMult({o.channel_mult().begin(), o.channel_mult().end()},
                                           o.base_channels(), o.groups()));
  double time_scale = 0;
  if (o.time_input()) {
    if (context.forward == nullptr) {
      return absl::FailedPreconditionError(
          "option time_input (LRDM's z_t = E(x0, t)) needs a forward process; an autoencoder "
          "description has none");
    }
    time_scale = 1000.0 / context.forward->network_time_domain().t_max();
  }
  at::manual_seed(context.config->training().seed() + 1);  // not the predictor's draws
  PooledConvNetConfig net;
  net.in_channels = shape[0];
  net.out_features = o.latent_dim() * (o.gaussian() ? 2 : 1);  // Gaussian: mean, log-variance
  ABSL_ASSIGN_OR_RETURN(const std::vector<int64_t> latent_shape,
                        LatentShape(o.latent_dim(), o.latent_channels(), shape,
                                    static_cast<int64_t>(mult.size())));
  net.spatial_out_channels = o.latent_channels() * (o.gaussian() ? 2 : 1);
  net.base_channels = o.base_channels();
  net.channel_mult = mult;
  net.num_res_blocks = o.num_res_blocks();
  net.groups = o.groups();
  net.resolution = shape[1];
  net.time_input = o.time_input();
  return std::unique_ptr<Encoder>(new SemanticEncoder(PooledConvNet(net), latent_shape,
                                                      o.gaussian(), time_scale));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Encoder, "semantic_encoder", SemanticEncoderOptions, Make);

}  // namespace diffuse
