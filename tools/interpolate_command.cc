// `diffuse interpolate`: Diffusion Autoencoders' interpolation (Preechakul et al. 2022,
// sec. 4.1): two images' codes, lerp on z_sem and slerp on x_T, decoded frame by frame;
// and the baseline without a semantic code, slerp between the DDIM-inverted x_T of an
// unconditional model (--baseline_pipeline / --baseline_checkpoint). Images 2k and 2k + 1
// form pair k; all pairs are encoded and decoded in the sampler's batches.
#include <iostream>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/linspace.h>
#include <ATen/ops/stack.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "assembly/encode.h"
#include "assembly/generate.h"
#include "assembly/latent_edits.h"
#include "assembly/trained_loader.h"
#include "eval/image_grid.h"
#include "reverse/inversion.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/status_macros.h"

ABSL_FLAG(int, frames, 10, "interpolate: frames from the first image to the second, ends included.");
ABSL_FLAG(std::string, baseline_pipeline, "",
          "interpolate: an unconditional description whose DDIM-inverted x_T are slerped too.");
ABSL_FLAG(std::string, baseline_checkpoint, "", "interpolate: the baseline's checkpoint.");

namespace diffuse {
namespace {

// Codes of every pair's frames, [K * F, ...]: a + w (b - a) for z (Lerp) or the slerp.
template <typename Path>
at::Tensor PairFrames(const at::Tensor& codes, const at::Tensor& weights, Path path) {
  std::vector<at::Tensor> frames;
  for (int64_t k = 0; k < codes.size(0) / 2; ++k) {
    frames.push_back(path(codes[2 * k], codes[2 * k + 1], weights));
  }
  return at::cat(frames, 0);
}

// Frames of the baseline: invert the images with the plain model, slerp, decode.
absl::StatusOr<at::Tensor> BaselineFrames(const at::Tensor& images, const at::Tensor& weights) {
  const std::string path = absl::GetFlag(FLAGS_baseline_pipeline);
  ABSL_ASSIGN_OR_RETURN(PipelineConfig config, LoadPipelineFile(path));
  absl::StatusOr<std::unique_ptr<Pipeline>> built = BuildPipeline(config);
  if (!built.ok()) return absl::Status(built.status().code(), absl::StrCat(path, ": ", built.status().message()));
  Pipeline& p = **built;
  if (p.predictor == nullptr) {  // an autoencoder or a classifier description
    return absl::InvalidArgumentError(absl::StrCat(
        "--baseline_pipeline ", path, ": want a diffusion model (this description has no predictor)"));
  }
  if (p.encoder != nullptr || p.predictor->conditions().num_classes > 0 ||
      p.predictor->conditions().image_channels > 0 || p.forward->HasOffset()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--baseline_pipeline ", path, ": want an unconditional description without an encoder"));
  }
  if (p.trained_module() != nullptr) {
    ABSL_RETURN_IF_ERROR(LoadWeightsForSampling(p, absl::GetFlag(FLAGS_baseline_checkpoint)));
  }
  const at::Tensor x_T = InvertToNoise(p.sampling(), images.to(at::kFloat), p.times, {});
  GenerateRequest request;
  request.x_start = PairFrames(x_T, weights, Slerp);
  request.num = request.x_start.size(0);
  ABSL_ASSIGN_OR_RETURN(Generated generated, Generate(p, request));
  return generated.samples;
}

}  // namespace

absl::Status InterpolateCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out);
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}, {"--png", absl::GetFlag(FLAGS_png)}}));
  const int frames = absl::GetFlag(FLAGS_frames);
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  if (frames < 2 || frames > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("--frames = ", frames, " must be in [2, 1000]"));
  }
  if (p->encoder == nullptr) {
    return absl::FailedPreconditionError(
        "the description has no encoder section (interpolate lerps z_sem; a plain model "
        "goes in --baseline_pipeline)");
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  ABSL_ASSIGN_OR_RETURN(at::Tensor images, ImagesFromFlags(p.get()));
  if (images.size(0) % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interpolate takes pairs of images (2k and 2k + 1; e.g. --split=test --indices=3:5), "
        "got ", images.size(0)));
  }
  const int64_t pairs = images.size(0) / 2;
  ABSL_ASSIGN_OR_RETURN(Encoded e, EncodeImages(*p, images, /*with_x_T=*/true));
  const at::Tensor weights = at::linspace(0, 1, frames, at::kDouble);
  GenerateRequest request;
  request.latent = PairFrames(e.latent, weights, Lerp);
  request.x_start = PairFrames(e.x_T, weights, Slerp);
  request.num = request.x_start.size(0);
  ABSL_ASSIGN_OR_RETURN(Generated generated, Generate(*p, request));
  std::vector<at::Tensor> rows = {generated.samples};
  if (!absl::GetFlag(FLAGS_baseline_pipeline).empty()) {
    ABSL_ASSIGN_OR_RETURN(at::Tensor baseline, BaselineFrames(images, weights));
    rows.push_back(baseline.to(generated.samples.scalar_type()));
  }
  // [K, R, F, C, H, W]: pair k, row r (0 DiffAE, 1 the baseline), frame f.
  std::vector<int64_t> shape = {static_cast<int64_t>(rows.size()), pairs, frames};
  for (int64_t d = 1; d < generated.samples.dim(); ++d) shape.push_back(generated.samples.size(d));
  const at::Tensor all = at::stack(rows).reshape(shape).transpose(0, 1).contiguous();
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(all)));
  std::cout << "wrote " << out << " " << all.sizes()
            << (rows.size() == 2 ? " (pair, row 0 DiffAE / 1 the baseline, frame)" : "") << "\n";
  if (const std::string png = absl::GetFlag(FLAGS_png); !png.empty()) {
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, all.flatten(0, 2).to(at::kFloat).slice(0, 0, 100)));
    std::cout << "wrote " << png << "\n";
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("interpolate", InterpolateCommand, /*trains=*/false);

}  // namespace diffuse
