// Forward "gaussian_vp": the variance-preserving Gaussian process of DDPM/DDIM,
//   x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps,  eps ~ N(0, I),  t = 0..T.
// Invertible in eps, standard-normal noise, Gaussian coefficients; x_T ~ N(0, I).
#ifndef DIFFUSE_FORWARD_GAUSSIAN_VP_H_
#define DIFFUSE_FORWARD_GAUSSIAN_VP_H_

#include <memory>

#include "absl/status/statusor.h"
#include "forward/forward_process.h"
#include "forward/gaussian_vp.pb.h"

namespace diffuse {

absl::StatusOr<std::unique_ptr<ForwardProcess>> MakeGaussianVp(
    const GaussianVpOptions& options);

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_GAUSSIAN_VP_H_
