// Concept 4: the latent prior. It supplies what the reverse process starts from: the state
// x_T (or x_{T'} for a truncated process, ES-DDPM: from a decoder D(z)), and optionally a
// latent z that conditions every reverse step (Diffusion Autoencoders, LRDM, DiffuseVAE's
// x_hat). The standard-normal prior supplies x_T ~ N(0, I) and no latent.
#ifndef DIFFUSE_MODELS_LATENT_PRIOR_H_
#define DIFFUSE_MODELS_LATENT_PRIOR_H_

#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "forward/forward_process.h"
#include "models/x0_predictor.h"
#include "random/noise_source.h"

namespace diffuse {

struct PriorSample {
  at::Tensor x_start;   // the state at the first time of the reverse schedule
  Condition condition;  // the latent / image condition it implies (may be empty)
};

class LatentPrior {
 public:
  virtual ~LatentPrior() = default;
  // Checked once by the builder: whether this prior can start `forward`'s reverse process.
  virtual absl::Status CheckCompatible(const ForwardProcess& forward) const = 0;
  // Draws `batch` starting states of per-sample shape `sample_shape`.
  virtual PriorSample Sample(int64_t batch, at::IntArrayRef sample_shape,
                             NoiseSource& noise) = 0;
  // > 0: Sample also fills Condition::latent, of this width (a prior over z: Diffusion
  // Autoencoders' latent DDIM).
  virtual int64_t latent_dim() const { return 0; }
  // With latent_dim() > 0: the shape its model draws z in ([latent_dim()], or an
  // autoencoder's spatial code [C, h, w]); Sample flattens it into Condition::latent.
  virtual std::vector<int64_t> latent_shape() const { return {latent_dim()}; }
  // Whether the reverse process starts at p(x_T | z) = N(0, I), whatever z: the ELBO's
  // diffusion prior term is then closed-form (logged as prior_kl).
  virtual bool starts_at_standard_normal() const { return false; }
  // Whether every reverse step draws its own z_t ~ N(0, I) instead of keeping Sample's z
  // (LRDM's per-time latents; the encoder must take t).
  virtual bool latent_per_step() const { return false; }
  // Loads what sampling needs that may be trained after the description was built (a
  // second training stage); called before the first Sample. Errors name the file.
  virtual absl::Status PrepareForSampling() { return absl::OkStatus(); }
  // Whether the image condition this prior supplies at sampling has a training-time
  // counterpart, TrainingImage (DiffuseVAE: the VAE's sample at sampling, its
  // reconstruction of x0 at training). The trainer then calls PrepareForSampling once and
  // conditions every example on TrainingImage(x0).
  virtual bool supplies_training_image() const { return false; }
  // x0 [B, ...] -> Condition::image [B, ...] for training, without gradients.
  virtual at::Tensor TrainingImage(const at::Tensor& x0) { return {}; }
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_LATENT_PRIOR_H_
