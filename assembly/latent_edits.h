// The semantic-latent experiments of Diffusion Autoencoders (Preechakul et al. 2022, sec. 4)
// as tensor functions: interpolation between two images' codes (lerp on z_sem, slerp on x_T,
// sec. 4.1), and a linear attribute direction on z_sem from logistic regression (sec. 4.3).
#ifndef DIFFUSE_ASSEMBLY_LATENT_EDITS_H_
#define DIFFUSE_ASSEMBLY_LATENT_EDITS_H_

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace diffuse {

// Spherical interpolation of a and b (any equal shapes, treated as flat vectors) at each
// weight in `weights` [F]: sin((1 - w) theta) / sin(theta) a + sin(w theta) / sin(theta) b,
// theta the angle between them (lerp when they are parallel). Returns [F, ...shape].
at::Tensor Slerp(const at::Tensor& a, const at::Tensor& b, const at::Tensor& weights);

// (1 - w) a + w b for each weight: [F, ...shape].
at::Tensor Lerp(const at::Tensor& a, const at::Tensor& b, const at::Tensor& weights);

// A linear classifier on standardized latents: p(y = 1 | z) = sigmoid(w . (z - mean) / std + b).
struct LatentDirection {
  at::Tensor mean, std;  // [D] of the fitted latents
  at::Tensor weight;     // [D]
  double bias = 0;
  double train_accuracy = 0;
  // z moved by `scale` along the classifier's unit normal in the standardized space:
  // z + scale * std * w / ||w|| (DiffAE's manipulation; scale in standard deviations).
  at::Tensor Move(const at::Tensor& z, double scale) const;
  // p(y = 1 | z) [N].
  at::Tensor Probability(const at::Tensor& z) const;
};

// Logistic regression of y [N] (0 / 1) on z [N, D] by full-batch L-BFGS with an L2 penalty
// `l2` on w (float64).
LatentDirection FitLatentDirection(const at::Tensor& z, const at::Tensor& y, double l2 = 1e-3);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_LATENT_EDITS_H_
