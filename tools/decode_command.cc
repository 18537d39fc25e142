// `diffuse decode`: Diffusion Autoencoders' decoder, (z_sem, x_T) to images: the reverse
// process from x_T (or a fresh N(0, I) start) conditioned on z_sem; for an autoencoder (a
// VAE), the mean of p(x | z).
#include <iostream>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "assembly/generate.h"
#include "eval/image_grid.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/npy.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, latent, "", "decode: the latents z (.npy, [N, D]) from `diffuse encode`.");

namespace diffuse {

absl::Status DecodeCommand() {
  ABSL_ASSIGN_OR_RETURN(
      std::unique_ptr<Pipeline> p,
      LoadPipeline({DescriptionKind::kDiffusion, DescriptionKind::kAutoencoder}));
  const std::string out = absl::GetFlag(FLAGS_out);
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}, {"--png", absl::GetFlag(FLAGS_png)}}));
  const std::string latent = absl::GetFlag(FLAGS_latent);
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  if (latent.empty()) return absl::InvalidArgumentError("--latent (a .npy of z) is required");
  if (p->encoder == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        absl::GetFlag(FLAGS_pipeline), ": the description has no encoder section; decode "
        "needs a predictor conditioned on its z"));
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  GenerateRequest request;
  ABSL_ASSIGN_OR_RETURN(request.latent, ReadTensor(latent));
  request.num = request.latent.size(0);
  request.seed = absl::GetFlag(FLAGS_seed) >= 0 ? absl::GetFlag(FLAGS_seed)
                                                : p->config.sampler().seed();
  const std::string x_T = absl::GetFlag(FLAGS_x_T);
  if (!x_T.empty() && p->kind == DescriptionKind::kAutoencoder) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--x_T: ", absl::GetFlag(FLAGS_pipeline),
        " is an autoencoder: its decoder maps z alone to the mean of p(x | z)"));
  }
  if (!x_T.empty()) {
    ABSL_ASSIGN_OR_RETURN(request.x_start, ReadTensor(x_T));
  }
  absl::StatusOr<Generated> generated = Generate(*p, request);
  if (!generated.ok() && generated.status().code() == absl::StatusCode::kInvalidArgument) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::StartsWith(generated.status().message(), "x_T") ? x_T : latent, ": ",
        generated.status().message()));
  }
  ABSL_RETURN_IF_ERROR(generated.status());
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(generated->samples)));
  std::cout << "wrote " << out << " " << generated->samples.sizes() << "\n";
  if (const std::string png = absl::GetFlag(FLAGS_png); !png.empty()) {
    ABSL_RETURN_IF_ERROR(
        WriteImageGridPng(png, generated->samples.slice(0, 0, 100).to(at::kFloat)));
    std::cout << "wrote " << png << "\n";
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("decode", DecodeCommand, /*trains=*/false);

}  // namespace diffuse
