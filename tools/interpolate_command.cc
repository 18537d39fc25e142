// `diffuse interpolate`: Diffusion Autoencoders' interpolation (Preechakul et al. 2022,
// sec. 4.1): two images' codes, lerp on z_sem and slerp on x_T, decoded frame by frame;
// and the baseline without a semantic code, slerp between the DDIM-inverted x_T of an
// unconditional model (--baseline_pipeline / --baseline_checkpoint).
#include <iostream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "eval/image_grid.h"
#include "pipeline/encode.h"
#include "pipeline/generate.h"
#include "pipeline/latent_edits.h"
#include "reverse/inversion.h"
#include "tools/cli_common.h"
#include "tools/commands.h"
#include "training/trainer.h"
#include "util/status_macros.h"

ABSL_FLAG(int, frames, 10, "interpolate: frames from the first image to the second, ends included.");
ABSL_FLAG(std::string, baseline_pipeline, "",
          "interpolate: an unconditional description whose DDIM-inverted x_T are slerped too.");
ABSL_FLAG(std::string, baseline_checkpoint, "", "interpolate: the baseline's checkpoint.");

namespace diffuse {
namespace {

// Frames of the baseline: invert both images with the plain model, slerp, decode.
absl::StatusOr<at::Tensor> BaselineFrames(const at::Tensor& images, const at::Tensor& weights) {
  const std::string path = absl::GetFlag(FLAGS_baseline_pipeline);
  ABSL_ASSIGN_OR_RETURN(PipelineConfig config, LoadPipelineFile(path));
  absl::StatusOr<std::unique_ptr<Pipeline>> built = BuildPipeline(config);
  if (!built.ok()) return absl::Status(built.status().code(), absl::StrCat(path, ": ", built.status().message()));
  Pipeline& p = **built;
  if (p.encoder != nullptr || p.predictor->conditions().num_classes > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--baseline_pipeline ", path, ": want an unconditional description without an encoder"));
  }
  if (p.trained_module() != nullptr) {
    ABSL_RETURN_IF_ERROR(LoadWeightsForSampling(p, absl::GetFlag(FLAGS_baseline_checkpoint)));
  }
  const at::Tensor x_T = InvertToNoise(p.sampling(), images.to(torch::kFloat32), p.times, {});
  GenerateRequest request;
  request.num = weights.size(0);
  request.x_start = Slerp(x_T[0], x_T[1], weights);
  ABSL_ASSIGN_OR_RETURN(Generated generated, Generate(p, request));
  return generated.samples;
}

}  // namespace

absl::Status InterpolateCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out);
  const int frames = absl::GetFlag(FLAGS_frames);
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  if (frames < 2 || frames > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("--frames = ", frames, " must be in [2, 1000]"));
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  ABSL_ASSIGN_OR_RETURN(at::Tensor images, ImagesFromFlags());
  if (images.size(0) != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interpolate takes exactly 2 images (e.g. --split=test --indices=3:5), got ",
        images.size(0)));
  }
  ABSL_ASSIGN_OR_RETURN(Encoded e, EncodeImages(*p, images, /*with_x_T=*/true));
  const at::Tensor weights = torch::linspace(0, 1, frames, torch::kFloat64);
  GenerateRequest request;
  request.num = frames;
  request.latent = Lerp(e.latent[0], e.latent[1], weights);
  request.x_start = Slerp(e.x_T[0], e.x_T[1], weights);
  ABSL_ASSIGN_OR_RETURN(Generated generated, Generate(*p, request));
  at::Tensor all = generated.samples.unsqueeze(0);  // [1 or 2, F, C, H, W]
  if (!absl::GetFlag(FLAGS_baseline_pipeline).empty()) {
    ABSL_ASSIGN_OR_RETURN(at::Tensor baseline, BaselineFrames(images, weights));
    all = torch::stack({generated.samples, baseline.to(generated.samples.scalar_type())});
  }
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(all)));
  std::cout << "wrote " << out << " " << all.sizes()
            << (all.size(0) == 2 ? " (row 0: DiffAE, row 1: the baseline)" : "") << "\n";
  if (const std::string png = absl::GetFlag(FLAGS_png); !png.empty()) {
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, all.flatten(0, 1).to(torch::kFloat32).slice(0, 0, 100)));
    std::cout << "wrote " << png << "\n";
  }
  return absl::OkStatus();
}

}  // namespace diffuse
