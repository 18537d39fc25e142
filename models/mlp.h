// The MLP denoiser network (LibTorch module) behind predictor "mlp". Its submodule names
// are the checkpoint keys.
#ifndef DIFFUSE_MODELS_MLP_H_
#define DIFFUSE_MODELS_MLP_H_

#include <torch/nn/cloneable.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace diffuse {

struct MlpDenoiserOptions {
  MlpDenoiserOptions(int64_t data_dim) : data_dim_(data_dim) {}  // NOLINT
  // Input and output width.
  TORCH_ARG(int64_t, data_dim);
  // Hidden width. Default 128.
  TORCH_ARG(int64_t, hidden) = 128;
  // Residual blocks h += Linear(SiLU(h + c)). Default 3.
  TORCH_ARG(int64_t, blocks) = 3;
  // Sinusoidal time-embedding size (even). Default 64.
  TORCH_ARG(int64_t, time_embedding_dim) = 64;
  // Classes K; > 0 adds an embedding of K + 1 rows (row K is the null class). Default 0.
  TORCH_ARG(int64_t, num_classes) = 0;
  // Random Fourier features F of the input; > 0 adds a buffer B [F, data_dim]. Default 0.
  TORCH_ARG(int64_t, fourier_features) = 0;
  // Standard deviation of B's entries. Default 1.
  TORCH_ARG(double, fourier_scale) = 1.0;
};

class MlpDenoiserImpl : public torch::nn::Cloneable<MlpDenoiserImpl> {
 public:
  explicit MlpDenoiserImpl(const MlpDenoiserOptions& options);
  void reset() override;
  // x [B, D], time [B] (scaled to [0, 1000]), label [B] in [0, K] or undefined -> [B, D].
  at::Tensor forward(const at::Tensor& x, const at::Tensor& time, const at::Tensor& label);

  MlpDenoiserOptions options;

 private:
  torch::nn::Linear time_in_{nullptr}, time_out_{nullptr}, input_{nullptr}, output_{nullptr};
  torch::nn::Embedding class_embedding_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  at::Tensor fourier_frequencies_;
};
TORCH_MODULE(MlpDenoiser);

// Transformer-style sinusoidal embedding of `time` [B] -> [B, dim].
at::Tensor SinusoidalEmbedding(const at::Tensor& time, int64_t dim);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_MLP_H_
