// `diffuse elbo`: the negative ELBO of images (--images / --split; for toy data any .npy of
// samples) under a description, term by term (assembly/elbo.h), in nats per sample, with
// the bits per dimension of the total.
#include <cmath>
#include <iostream>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/isfinite.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "assembly/elbo.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/status_macros.h"

ABSL_FLAG(int, draws, 4, "elbo: draws of t per sample for the denoising sum (>= 1).");

namespace diffuse {

absl::Status ElboCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  ABSL_ASSIGN_OR_RETURN(const at::Tensor x0, ImagesFromFlags());
  const std::vector<int64_t> shape = p->data->sample_shape();
  if (x0.dim() != static_cast<int64_t>(shape.size()) + 1 || x0.sizes().slice(1) != at::IntArrayRef(shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::GetFlag(FLAGS_images).empty() ? "--split" : absl::GetFlag(FLAGS_images),
        ": samples of another shape than the data's"));
  }
  if (!at::isfinite(x0).all().item<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat(absl::GetFlag(FLAGS_images), ": non-finite values"));
  }
  const int draws = absl::GetFlag(FLAGS_draws);
  if (draws < 1 || draws > 100000) return absl::InvalidArgumentError("--draws must be in [1, 100000]");
  const int64_t seed = absl::GetFlag(FLAGS_seed);  // -1: 0
  absl::StatusOr<ElboTerms> terms = EstimateElbo(*p, x0, draws, seed < 0 ? 0 : seed);
  if (!terms.ok()) {
    return absl::Status(terms.status().code(), absl::StrCat("--pipeline ", absl::GetFlag(FLAGS_pipeline),
                                                            ": ", terms.status().message()));
  }
  const double per_dim = terms->total() / terms->dims / std::log(2.0);
  std::cout << absl::StrFormat(
      "negative ELBO of %d samples (%d dimensions), nats per sample:\n"
      "  latent KL       %12.4f\n  prior KL        %12.6g\n  reconstruction  %12.4f\n"
      "  denoising       %12.4f +- %.4f (%d draws of t per sample)\n  total           %12.4f"
      "  (%.4f bits per dimension, a density bound)\n",
      terms->num, terms->dims, terms->latent_kl, terms->prior_kl, terms->reconstruction,
      terms->denoising, terms->denoising_se, draws, terms->total(), per_dim);
  if (p->config.data().name() == "fashion_mnist") {
    // 256 grey levels on [-1, 1]: bins of width 2 / 255, -log P(bin) ~ -log p - D log(2/255).
    std::cout << absl::StrFormat(
        "  as 8-bit images: %.4f bits per dimension (the density times the bin width 2/255: "
        "an approximation, not a bound)\n",
        per_dim - std::log2(2.0 / 255.0));
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("elbo", ElboCommand, /*trains=*/false);

}  // namespace diffuse
