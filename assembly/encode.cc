#include "assembly/encode.h"

#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "models/module_ops.h"
#include "reverse/inversion.h"

namespace diffuse {

absl::StatusOr<Encoded> EncodeImages(Pipeline& p, const at::Tensor& x0, bool with_x_T,
                                     std::optional<double> encoder_time) {
  if (p.encoder == nullptr && !with_x_T) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the description has no encoder section (z needs one, e.g. \"semantic_encoder\"; "
        "without one only x_T, the plain DDIM inversion, can be computed)"));
  }
  // Codes encode cannot give: LRDM's z_t has no single value per image (it is encoded at the
  // time asked for, and its x_T would need a z_t per inversion step), and DDIM inversion
  // conditioned on x_hat (forward shifted, an image-conditioned U-Net) needs an x_hat per
  // image that nothing here supplies.
  const bool timed = p.encoder != nullptr && p.encoder->takes_time();
  if (timed && (!encoder_time.has_value() || with_x_T)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "encoder '", p.config.encoder().name(), "' takes t (time_input, LRDM's z_t = E(x0, t)): ",
        with_x_T ? "x_T would need a z_t per inversion step"
                 : "there is no one z per image; ask for z_t at one time (--encoder_time)"));
  }
  if (!timed && encoder_time.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "an encoder time is given but ",
        p.encoder == nullptr ? "the description has no encoder"
                             : absl::StrCat("encoder '", p.config.encoder().name(),
                                            "' does not read t (time_input is off)")));
  }
  const double t_max = timed ? p.forward->time_domain().t_max() : 0.0;
  if (timed && !(*encoder_time >= 0.0 && *encoder_time <= t_max)) {
    // OutOfRange: the one error the caller's time alone causes (`diffuse encode` names its flag).
    return absl::OutOfRangeError(absl::StrCat("encoder time ", *encoder_time,
                                              " is outside [0, ", t_max, "]"));
  }
  if (with_x_T && p.kind == DescriptionKind::kAutoencoder) {
    return absl::FailedPreconditionError(
        "x_T: an autoencoder's code is z alone (its decoder is not a diffusion process)");
  }
  if (with_x_T && p.forward != nullptr &&
      (p.forward->HasOffset() || p.predictor->conditions().image_channels > 0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "x_T: DDIM inversion under ", p.forward->HasOffset() ? "forward '" : "predictor '",
        p.forward->HasOffset() ? p.config.forward().name() : p.config.predictor().name(),
        "' needs each image's x_hat, which encode does not have"));
  }
  std::vector<int64_t> want = p.data->sample_shape();
  want.insert(want.begin(), x0.dim() > 0 ? x0.size(0) : 0);
  if (x0.sizes() != at::IntArrayRef(want) || x0.size(0) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "images have shape [", absl::StrJoin(x0.sizes(), ", "), "], want [N, ",
        absl::StrJoin(p.data->sample_shape(), ", "), "] with N >= 1"));
  }
  const at::ScalarType type =
      p.config.sampler().dtype() == FLOAT64 ? at::kDouble : at::kFloat;
  ConvertModule(*p.trained_module(), type);
  SetEvalMode(*p.trained_module());
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> latents, starts;
  const int64_t chunk = p.config.sampler().batch_size();
  try {
    for (int64_t first = 0; first < x0.size(0); first += chunk) {
      const at::Tensor x = x0.slice(0, first, std::min(first + chunk, x0.size(0))).to(type);
      Condition condition;
      if (p.encoder != nullptr) {
        condition.latent = p.encoder->Encode(x, Time(encoder_time.value_or(0.0))).mean;
        latents.push_back(condition.latent);
      }
      if (with_x_T) starts.push_back(InvertToNoise(p.sampling(), x, p.times, condition));
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("encoding failed: ", e.what_without_backtrace()));
  }
  Encoded out{latents.empty() ? at::Tensor() : at::cat(latents, 0),
              with_x_T ? at::cat(starts, 0) : at::Tensor()};
  return out;
}

}  // namespace diffuse
