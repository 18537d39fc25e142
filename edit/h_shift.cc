#include "edit/h_shift.h"

#include <numeric>

#include <ATen/core/grad_mode.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/types.h>

#include "models/mlp.h"

namespace diffuse {

HShiftImpl::HShiftImpl(int64_t channels, int64_t hidden) : hidden_(hidden) {
  in_ = register_module("conv_in", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, hidden, 1)));
  norm_ = register_module("norm", torch::nn::GroupNorm(std::gcd(hidden, int64_t{8}), hidden));
  time_ = register_module("time", torch::nn::Linear(hidden, hidden));
  out_ = register_module("conv_out", torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, channels, 1)));
  at::NoGradGuard no_grad;
  out_->weight.zero_();
  out_->bias.zero_();
}

at::Tensor HShiftImpl::forward(const at::Tensor& h, double t_fraction) {
  const at::Tensor time = torch::full({1}, 1000.0 * t_fraction, h.options());
  const at::Tensor e = time_(SinusoidalEmbedding(time, hidden_)).view({1, hidden_, 1, 1});
  return out_(torch::silu(norm_(in_(h)) + e));
}

}  // namespace diffuse
