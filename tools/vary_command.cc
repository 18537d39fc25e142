// `diffuse vary`: Diffusion Autoencoders' stochastic variations (Preechakul et al. 2022,
// Fig. 1): each image's z_sem decoded from several fresh x_T. What stays is what z_sem
// holds; what changes is the stochastic detail x_T holds.
#include <iostream>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/cat.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "assembly/encode.h"
#include "assembly/generate.h"
#include "eval/image_grid.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/status_macros.h"

ABSL_FLAG(int, variations, 9, "vary: decodes of each image's z_sem, each from its own x_T.");

namespace diffuse {

absl::Status VaryCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out);
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}, {"--png", absl::GetFlag(FLAGS_png)}}));
  const int k = absl::GetFlag(FLAGS_variations);
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  if (k < 1 || k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("--variations = ", k, " must be in [1, 1000]"));
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  ABSL_ASSIGN_OR_RETURN(at::Tensor images, ImagesFromFlags(p.get()));
  ABSL_ASSIGN_OR_RETURN(Encoded encoded, EncodeImages(*p, images, /*with_x_T=*/false));
  const int64_t n = images.size(0);
  GenerateRequest request;
  request.num = n * k;
  request.seed = absl::GetFlag(FLAGS_seed) >= 0 ? absl::GetFlag(FLAGS_seed)
                                                : p->config.sampler().seed();
  request.latent = encoded.latent.repeat_interleave(k, 0);
  ABSL_ASSIGN_OR_RETURN(Generated generated, Generate(*p, request));
  // [N, K, C, H, W]: image i's variations in row i.
  std::vector<int64_t> shape = {n, k};
  for (int64_t d : images.sizes().slice(1)) shape.push_back(d);
  const at::Tensor variations = generated.samples.view(shape);
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(variations)));
  std::cout << "wrote " << out << " " << variations.sizes() << "\n";
  if (const std::string png = absl::GetFlag(FLAGS_png); !png.empty()) {
    // One row per image: the original, then its variations (10 to a row when K = 9).
    const at::Tensor rows = at::cat(
        {images.to(at::kFloat).unsqueeze(1), variations.to(at::kFloat)}, 1);
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, rows.flatten(0, 1).slice(0, 0, 100)));
    std::cout << "wrote " << png << " (first column: the original)\n";
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("vary", VaryCommand, /*trains=*/false);

}  // namespace diffuse
