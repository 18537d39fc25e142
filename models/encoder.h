// Concept 6: the encoder q(z | x0) of a latent-variable diffusion model: Diffusion
// Autoencoders' semantic encoder (deterministic, z_sem = E(x0)), the Gaussian encoders of
// the VAE family (a mean and a log-variance, reparameterized), LRDM's time-dependent
// encoder z_t = E(x0, t). Every reverse step is then conditioned on z through
// Condition::latent, whose width the predictor declares (ConditionSupport::latent_dim).
//
// Encoders are networks trained jointly with the predictor by the diffusion loss (plus
// whatever their own objective adds); module() is what the trainer optimizes, averages
// (EMA) and checkpoints beside the predictor's.
#ifndef DIFFUSE_MODELS_ENCODER_H_
#define DIFFUSE_MODELS_ENCODER_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "forward/time.h"

namespace torch {
namespace nn {
class Module;
}  // namespace nn
}  // namespace torch

namespace diffuse {

// q(z | x0) = N(mean, exp(log_variance)), or the point mass at mean.
struct LatentPosterior {
  at::Tensor mean;          // [B, D], a spatial code flattened
  at::Tensor log_variance;  // [B, D]; undefined for a deterministic encoder
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  // D, the width of z.
  virtual int64_t latent_dim() const = 0;
  // z's shape per sample, D elements: [D] for a global code, [C, h, w] for a spatial one
  // (latent diffusion's autoencoder). Encode returns z flattened to [B, D] either way; a
  // model of the codes (prior "latent_ddim") sees them in this shape.
  virtual std::vector<int64_t> latent_shape() const { return {latent_dim()}; }
  // Whether Encode reads t (LRDM); others ignore it.
  virtual bool takes_time() const { return false; }
  // Whether q(z | x0) is Gaussian (Encode fills log_variance): the trainer then draws z by
  // reparameterization and adds training.latent_kl_weight * KL(q || N(0, I)).
  virtual bool gaussian() const { return false; }
  // x0 [B, ...sample_shape] -> q(z | x0[, t]). Differentiable.
  virtual LatentPosterior Encode(const at::Tensor& x0, const Time& t) = 0;
  virtual torch::nn::Module& module() = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_ENCODER_H_
