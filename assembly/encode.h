// The two codes of a Diffusion Autoencoder (Preechakul et al. 2022, sec. 3.2): the semantic
// z = E(x0) and the stochastic x_T, found by running the deterministic (DDIM) process from
// x0 up to x_T conditioned on z (DDIM inversion, reverse/inversion.h). Decoding x_T with z
// through the same deterministic grid gives x0 back (the round trip is exact up to the
// discretization error, which shrinks with the steps).
#ifndef DIFFUSE_ASSEMBLY_ENCODE_H_
#define DIFFUSE_ASSEMBLY_ENCODE_H_

#include <optional>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "assembly/builder.h"

namespace diffuse {

struct Encoded {
  at::Tensor latent;  // [N, D] z (the encoder's mean); undefined without an encoder
  at::Tensor x_T;     // [N, ...sample_shape], when requested
};

// x0 [N, ...sample_shape] in sampler.batch_size chunks. Without an encoder only x_T can be
// asked for (the plain model's DDIM inversion, the baseline of docs/diffae.md); asking for
// z alone is FAILED_PRECONDITION. INVALID_ARGUMENT for images of the wrong shape.
// An encoder that reads t (LRDM's z_t = E(x0, t)) has no one z per image: it is encoded at
// `encoder_time` (on the forward process's time scale), which it needs and no other
// encoder accepts (a time outside the forward process's domain is OutOfRange); x_T is not
// defined for it (each inversion step would need its own z_t).
absl::StatusOr<Encoded> EncodeImages(Pipeline& pipeline, const at::Tensor& x0, bool with_x_T,
                                     std::optional<double> encoder_time = std::nullopt);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_ENCODE_H_
