// Concept 7: the decoder p(x | z) of a variational autoencoder, the generator of the VAE
// family (seed 000): ES-DDPM's cheap first estimate, DiffuseVAE's x_hat, the autoencoder
// of latent diffusion. p(x | z) = N(mean(z), std^2 I) with one observation std for every
// element (fixed, or learned as in sigma-VAE, Rybkin et al. 2021).
//
// A description with a decoder and an encoder but no forward process is an autoencoder
// (PipelineConfig.decoder): `train` fits both by the ELBO, -log p(x0 | z) +
// training.latent_kl_weight * KL(q(z | x0) || N(0, I)), and `sample` decodes z ~ N(0, I).
#ifndef DIFFUSE_MODELS_DECODER_H_
#define DIFFUSE_MODELS_DECODER_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace torch {
namespace nn {
class Module;
}  // namespace nn
}  // namespace torch

namespace diffuse {

// p(x | z) = N(mean, exp(log_std)^2 I).
struct ObservationModel {
  at::Tensor mean;     // [B, ...sample_shape]
  at::Tensor log_std;  // 0-d, differentiable when learned
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // D, the width of z it reads.
  virtual int64_t latent_dim() const = 0;
  // z's shape per sample, D elements ([D], or [C, h, w] for a spatial code); it must equal
  // the encoder's (Encoder::latent_shape).
  virtual std::vector<int64_t> latent_shape() const { return {latent_dim()}; }
  // z [B, D] (a spatial code flattened) -> p(x | z). Differentiable.
  virtual ObservationModel Decode(const at::Tensor& z) = 0;
  virtual torch::nn::Module& module() = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_DECODER_H_
