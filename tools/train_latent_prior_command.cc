// `diffuse train-latent-prior`: the second training stage of a Diffusion Autoencoder
// (Preechakul et al. 2022, sec. 3.3) or of latent diffusion (an autoencoder whose prior
// models its codes). Encodes the training images with the trained
// autoencoder, normalizes the codes (per-dimension mean and std, kept for sampling), and
// trains the prior's own description (prior "latent_ddim") on them, resumable like `train`.
#include <iostream>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "assembly/encode.h"
#include "data/fashion_mnist_files.h"
#include "models/latent_ddim_prior.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "assembly/train.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status TrainLatentPriorCommand() {
  ABSL_ASSIGN_OR_RETURN(
      std::unique_ptr<Pipeline> p,
      LoadPipeline({DescriptionKind::kDiffusion, DescriptionKind::kAutoencoder}));
  LatentDdimPriorOptions options;
  if (p->config.prior().name() != "latent_ddim" ||
      !p->config.prior().options().UnpackTo(&options)) {
    return absl::InvalidArgumentError(absl::StrCat(
        absl::GetFlag(FLAGS_pipeline), ": prior must be \"latent_ddim\" with its options"));
  }
  const std::string dir = options.dir();
  ABSL_RETURN_IF_ERROR(MakeDirs(dir));
  if (!FileExists(LatentsPath(dir)) || !FileExists(LatentStatsPath(dir))) {
    ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
    if (absl::GetFlag(FLAGS_split).empty() && absl::GetFlag(FLAGS_images).empty()) {
      return absl::InvalidArgumentError(
          "give the images to encode: --split=train --indices=0:60000 (or --images)");
    }
    ABSL_ASSIGN_OR_RETURN(at::Tensor images, ImagesFromFlags());
    std::cerr << "encoding " << images.size(0) << " images into " << LatentsPath(dir) << std::endl;
    const auto start = std::chrono::steady_clock::now();
    ABSL_ASSIGN_OR_RETURN(Encoded encoded, EncodeImages(*p, images, /*with_x_T=*/false));
    // In the shape the prior models z in (a spatial code as an image).
    ABSL_ASSIGN_OR_RETURN(const at::Tensor std, WriteNormalizedLatents(encoded.latent,
                                                                       p->prior->latent_shape(), dir));
    ABSL_RETURN_IF_ERROR(RecordLatentSource(dir, absl::GetFlag(FLAGS_checkpoint)));
    std::cerr << absl::StrFormat(
                     "encoded in %.1f s; z std per dimension: min %.3g, median %.3g, max %.3g",
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                     std.min().item<double>(), std.median().item<double>(), std.max().item<double>())
              << std::endl;
  } else {
    // Codes of another state of the autoencoder would train a model of the wrong z.
    ABSL_RETURN_IF_ERROR(CheckLatentSource(dir, absl::GetFlag(FLAGS_checkpoint)));
    std::cerr << "reusing " << LatentsPath(dir) << " (remove " << dir << " to encode again)"
              << std::endl;
  }
  ABSL_ASSIGN_OR_RETURN(PipelineConfig config, LatentModelDescription(options));
  absl::StatusOr<std::unique_ptr<Pipeline>> model = BuildPipeline(config);
  if (!model.ok()) {
    return absl::Status(model.status().code(), absl::StrCat(absl::GetFlag(FLAGS_pipeline),
                                                            ": prior.options.pipeline: ",
                                                            model.status().message()));
  }
  ABSL_ASSIGN_OR_RETURN(TrainingSummary s, Train(**model, dir, &std::cerr));
  std::cout << TrainingSummaryLine("the latent model", s, dir);
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("train-latent-prior", TrainLatentPriorCommand, /*trains=*/true);

}  // namespace diffuse
