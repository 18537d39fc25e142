// What a prediction, a prior draw or a shifted forward process is conditioned on. It sits
// beside forward/time.h because F_t itself may read it: a shifted process (DiffuseVAE)
// moves x_t by the image condition x_hat.
#ifndef DIFFUSE_FORWARD_CONDITION_H_
#define DIFFUSE_FORWARD_CONDITION_H_

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace diffuse {

// An undefined tensor means "absent".
struct Condition {
  // The label of the null condition (classifier-free guidance, condition dropout).
  static constexpr int64_t kNullLabel = -1;

  at::Tensor label;   // [B] int64 class ids, or kNullLabel.
  at::Tensor latent;  // [B, D] latent z (Diffusion Autoencoders, LRDM, ES-DDPM).
  at::Tensor image;   // [B, C, H, W] image condition (DiffuseVAE).
  // [B] int64: the index of each sample's prompt in sampler.prompts (CLIP guidance reads it;
  // a text-conditioned predictor reads the prompt's embedding in `latent`).
  at::Tensor prompt;
  // [B, D]: the latent of the negative condition of classifier-free guidance on a
  // text-conditioned predictor (the negative prompt's embedding, or zeros, the null one).
  at::Tensor negative_latent;
  // [B, L, W] the per-token states of each sample's prompt and [B, L] bool (true at real
  // tokens): what a cross-attention predictor reads (latent diffusion, Rombach et al. 2022).
  at::Tensor context, context_mask;
  // The negative condition's states and mask for classifier-free guidance (the negative
  // prompt's, or the empty prompt's, the null condition).
  at::Tensor negative_context, negative_context_mask;
};

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_CONDITION_H_
