// A Gaussian mixture sum_k pi_k N(mu_k, C_k) in any dimension D, with a class label per
// component, and its exact quantities under the Gaussian forward process
// x_t = alpha x0 + sigma eps. With C_k = U_k diag(l_k) U_k^T (U_k = I for isotropic and
// diagonal covariances) and y = U_k^T (x_t - alpha mu_k):
//   p(x_t | k)   = N(alpha mu_k, alpha^2 C_k + sigma^2 I),  per axis v_k = alpha^2 l_k + sigma^2
//   E[x0|x_t,k]  = mu_k + U_k (alpha l_k / v_k * y)
//   E[x0|x_t]    = sum_k r_k(x_t) E[x0|x_t,k],  r_k = posterior of component k.
// With alpha = 1, sigma = 0 these are the data's own density and responsibilities.
#ifndef DIFFUSE_DATA_GAUSSIAN_MIXTURE_H_
#define DIFFUSE_DATA_GAUSSIAN_MIXTURE_H_

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace diffuse {

class GaussianMixture {
 public:
  // means [K, D], stds [K] (isotropic) or [K, D] (diagonal), weights [K] (normalized
  // here), labels [K] int64.
  GaussianMixture(at::Tensor means, at::Tensor stds, at::Tensor weights, at::Tensor labels);
  // Full covariances [K, D, D] (symmetric positive definite; checked by the caller, see
  // CheckCovariances).
  static GaussianMixture WithCovariances(at::Tensor means, at::Tensor covariances,
                                         at::Tensor weights, at::Tensor labels);

  int64_t num_components() const { return means_.size(0); }
  int64_t dim() const { return means_.size(1); }
  int64_t num_classes() const;
  const at::Tensor& means() const { return means_; }
  const at::Tensor& labels() const { return labels_; }
  // ||C_k^(-1/2) (x - mu_k)|| [B] for x [B, D] and each row's component k [B].
  at::Tensor Mahalanobis(const at::Tensor& x, const at::Tensor& component) const;

  // log P(class) [num_classes()], summing the weights of each class's components.
  at::Tensor ClassLogPrior() const;

  // Draws n points; `component` (optional) receives each point's component [n].
  at::Tensor Sample(int64_t n, at::Generator& generator, at::Tensor* component = nullptr) const;

  // log q(x_t | label) per row of x_t [B, D] for x_t = alpha x0 + sigma eps; alpha and sigma
  // are numbers or [B] tensors. label [B] restricts to that class's components; -1 (or an
  // undefined tensor) means all.
  at::Tensor LogProb(const at::Tensor& x_t, const at::Tensor& alpha, const at::Tensor& sigma,
                     const at::Tensor& label = {}) const;

  // E[x0 | x_t, label] [B, D], same conventions.
  at::Tensor PosteriorMean(const at::Tensor& x_t, const at::Tensor& alpha,
                           const at::Tensor& sigma, const at::Tensor& label = {}) const;

  // Component posterior r [B, K] (all components).
  at::Tensor Responsibilities(const at::Tensor& x_t, const at::Tensor& alpha,
                              const at::Tensor& sigma) const;

 private:
  GaussianMixture() = default;
  // y = U_k^T (x - alpha mu_k) [B, K, D] for x [B, D] float64, alpha [B, 1].
  at::Tensor Rotated(const at::Tensor& x, const at::Tensor& alpha) const;
  // Per-component log-densities log pi_k + log N(x_t; alpha mu_k, alpha^2 C_k + sigma^2 I)
  // [B, K]; y and the per-axis variances v [B, K, D] on request.
  at::Tensor ComponentLogits(const at::Tensor& x_t, const at::Tensor& alpha,
                             const at::Tensor& sigma, const at::Tensor& label, at::Tensor* y,
                             at::Tensor* variance) const;

  at::Tensor means_;        // [K, D]
  at::Tensor scales_;       // [K, D]: sqrt(l_k), the stds along the principal axes
  at::Tensor rotation_;     // [K, D, D]: U_k (columns = axes); undefined = identity
  at::Tensor log_weights_;  // [K]
  at::Tensor labels_;       // [K]
};

// The "eight Gaussians" ring: K modes at radius r, angles 2 pi k / K, std s, label k.
GaussianMixture EightGaussians(double radius, double std, int64_t num_modes = 8);

}  // namespace diffuse

#endif  // DIFFUSE_DATA_GAUSSIAN_MIXTURE_H_
