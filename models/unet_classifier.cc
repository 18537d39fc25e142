// Noisy classifier "unet_classifier": see unet_classifier.proto.
#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "forward/forward_process.h"
#include "models/noisy_classifier.h"
#include "models/pooled_conv_net.h"
#include "models/unet_classifier.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class UNetClassifier : public NoisyClassifier {
 public:
  UNetClassifier(PooledConvNet net, int64_t num_classes, double time_scale)
      : net_(std::move(net)), num_classes_(num_classes), time_scale_(time_scale) {}

  int64_t num_classes() const override { return num_classes_; }
  torch::nn::Module* module() override { return net_.get(); }

  at::Tensor LogProbabilities(const at::Tensor& x_t, const Time& t) override {
    // The network's dtype (float32 weights under a float64 sampler); autograd runs through
    // the cast, so guidance gets d/dx_t in x_t's own type.
    const at::Tensor x = x_t.to(net_->parameters().front().scalar_type());
    const at::Tensor time =
        t.is_shared() ? torch::full({x.size(0)}, t.shared() * time_scale_, x.scalar_type())
                      : (t.per_sample() * time_scale_).to(x.scalar_type());
    return torch::log_softmax(net_(x, time), 1);
  }

 private:
  PooledConvNet net_;
  int64_t num_classes_;
  double time_scale_;
};

absl::StatusOr<std::unique_ptr<NoisyClassifier>> Make(const UNetClassifierOptions& o,
                                                      const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("base_channels", o.base_channels(), 1, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_res_blocks", o.num_res_blocks(), 1, 8));
  ABSL_RETURN_IF_ERROR(CheckInRange("groups", o.groups(), 1, 1024));
  const std::string data = absl::StrCat("data '", context.config->data().name(), "'");
  const std::vector<int64_t> shape = context.data->sample_shape();
  if (shape.size() != 3 || context.data->num_token_classes() > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("needs real-valued image data [C, H, W]; ", data, " is not"));
  }
  if (context.data->num_classes() < 2) {
    return absl::FailedPreconditionError(
        absl::StrCat("needs labelled data (at least 2 classes); ", data, " has none"));
  }
  if (context.forward == nullptr) {
    return absl::FailedPreconditionError("needs a forward process (the noise it classifies)");
  }
  ABSL_ASSIGN_OR_RETURN(std::vector<int64_t> mult,
                        CheckedChannelMult({o.channel_mult().begin(), o.channel_mult().end()},
                                           o.base_channels(), o.groups()));
  PooledConvNetConfig net;
  net.in_channels = shape[0];
  net.out_features = context.data->num_classes();
  net.base_channels = o.base_channels();
  net.channel_mult = mult;
  net.num_res_blocks = o.num_res_blocks();
  net.groups = o.groups();
  net.resolution = shape[1];
  net.time_input = true;
  if (o.attention_resolutions_size() > 0 || o.channel_mult_size() > 0) {
    net.attention_resolutions.assign(o.attention_resolutions().begin(),
                                     o.attention_resolutions().end());
  } else {
    net.attention_resolutions = {7};
  }
  const double time_scale = 1000.0 / context.forward->network_time_domain().t_max();
  at::manual_seed(context.config->training().seed());  // the same initial weights per seed
  return std::unique_ptr<NoisyClassifier>(
      new UNetClassifier(PooledConvNet(net), net.out_features, time_scale));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(NoisyClassifier, "unet_classifier", UNetClassifierOptions, Make);

}  // namespace diffuse
