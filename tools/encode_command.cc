// `diffuse encode`: images to Diffusion Autoencoders' two codes, z_sem (the encoder) and
// x_T (DDIM inversion conditioned on z_sem; assembly/encode.h); for an autoencoder (a VAE),
// z alone, the mean of q(z | x0).
#include <iostream>
#include <optional>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "assembly/encode.h"
#include "data/fashion_mnist_files.h"
#include "eval/image_grid.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/npy.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, x_T_out, "",
          "encode: also write x_T, the stochastic code (.npy; DDIM inversion on the sampler grid).");
ABSL_FLAG(double, encoder_time, -1,
          "encode: for an encoder that reads t (LRDM's z_t = E(x0, t)), the time to encode at, "
          "on the forward process's scale (0 .. T); unset (-1) for every other encoder.");

namespace diffuse {
absl::Status EncodeCommand() {
  ABSL_ASSIGN_OR_RETURN(
      std::unique_ptr<Pipeline> p,
      LoadPipeline({DescriptionKind::kDiffusion, DescriptionKind::kAutoencoder}));
  const std::string out = absl::GetFlag(FLAGS_out);
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out},
                                          {"--x_T_out", absl::GetFlag(FLAGS_x_T_out)},
                                          {"--png", absl::GetFlag(FLAGS_png)}}));
  const std::string x_T_out = absl::GetFlag(FLAGS_x_T_out);
  if (out.empty() && x_T_out.empty()) {
    return absl::InvalidArgumentError("--out (the z .npy) or --x_T_out (the x_T .npy) is required");
  }
  if (p->encoder == nullptr && !out.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--out: the description has no encoder section, so there is no z (--x_T_out alone "
        "gives the plain model's DDIM-inverted x_T)"));
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  ABSL_ASSIGN_OR_RETURN(at::Tensor images, ImagesFromFlags(p.get()));
  const double encoder_time = absl::GetFlag(FLAGS_encoder_time);
  absl::StatusOr<Encoded> encoded =
      EncodeImages(*p, images, !x_T_out.empty(),
                   encoder_time == -1 ? std::nullopt : std::optional<double>(encoder_time));
  if (!encoded.ok() && encoded.status().code() == absl::StatusCode::kOutOfRange) {
    return absl::InvalidArgumentError(absl::StrCat("--encoder_time: ", encoded.status().message()));
  }
  if (!encoded.ok() && encoded.status().code() == absl::StatusCode::kInvalidArgument) {
    const std::string source =
        absl::GetFlag(FLAGS_images).empty() ? "--split" : absl::GetFlag(FLAGS_images);
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", encoded.status().message()));
  }
  ABSL_RETURN_IF_ERROR(encoded.status());
  if (!out.empty()) {
    ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(encoded->latent)));
    std::cout << "wrote " << out << " " << encoded->latent.sizes() << "\n";
  }
  if (!x_T_out.empty()) {
    ABSL_RETURN_IF_ERROR(WriteNpy(x_T_out, ToNpy(encoded->x_T)));
    std::cout << "wrote " << x_T_out << " " << encoded->x_T.sizes() << "\n";
  }
  if (const std::string png = absl::GetFlag(FLAGS_png); !png.empty()) {
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, images.slice(0, 0, 100).to(at::kFloat)));
    std::cout << "wrote " << png << " (the encoded images)\n";
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("encode", EncodeCommand, /*trains=*/false);

}  // namespace diffuse
