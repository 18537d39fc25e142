// Quality figures of 2-D (or any-D) samples against a known Gaussian mixture:
//   mode fractions  share of samples whose most likely component is k and that lie within
//                   Mahalanobis distance 3 of its mean (3 stds for isotropic components);
//                   the rest is "off mode"
//   mean log-lik    average log q(x) under the true mixture (nats)
//   sliced W2       sqrt(E_theta W2^2(theta^T a, theta^T b)) over random unit directions,
//                   computed exactly in 1-D by sorting (equal sample counts)
#ifndef DIFFUSE_EVAL_MIXTURE_METRICS_H_
#define DIFFUSE_EVAL_MIXTURE_METRICS_H_

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/gaussian_mixture.h"

namespace diffuse {

struct MixtureQuality {
  std::vector<double> mode_fraction;  // per component
  double off_mode_fraction = 0;
  double mean_log_likelihood = 0;
  double sliced_w2 = 0;  // to the reference samples

  // Largest |fraction - weight| over modes (weights uniform for the ring).
  double max_mode_error() const;
  std::string ToString() const;
};

// Sliced Wasserstein-2 between two equally sized sample sets [N, D].
double SlicedW2(const at::Tensor& a, const at::Tensor& b, int num_projections, uint64_t seed);

// All figures for `samples` [N, D]; `reference` [N, D] are exact samples for sliced W2.
MixtureQuality EvaluateAgainstMixture(const at::Tensor& samples, const GaussianMixture& mixture,
                                      const at::Tensor& reference);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_MIXTURE_METRICS_H_
