// Asyrp's f_t (Kwon et al. 2023, sec. 3.3): a small network that maps the U-Net's bottleneck
// h [B, C, H, W] at time t to a shift dh of the same shape,
//   dh = W2 silu(GroupNorm(W1 h) + A e(t)),
// W1, W2 1x1 convolutions, e(t) a sinusoidal embedding of t / t_max. W2 starts at zero, so
// an untrained f_t shifts nothing.
#ifndef DIFFUSE_EDIT_H_SHIFT_H_
#define DIFFUSE_EDIT_H_SHIFT_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

namespace diffuse {

class HShiftImpl : public torch::nn::Module {
 public:
  HShiftImpl(int64_t channels, int64_t hidden);
  // h [B, C, H, W]; t_fraction = t / t_max in [0, 1].
  at::Tensor forward(const at::Tensor& h, double t_fraction);

 private:
  int64_t hidden_;
  torch::nn::Conv2d in_{nullptr}, out_{nullptr};
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Linear time_{nullptr};
};
TORCH_MODULE(HShift);

}  // namespace diffuse

#endif  // DIFFUSE_EDIT_H_SHIFT_H_
