// `diffuse img2img` (SDEdit) and `diffuse inpaint` (RePaint) on given images:
// assembly/image_to_image.h. Both read --images (.npy) or --split / --indices, and a trained
// pipeline (--pipeline, --checkpoint; --prompt, --labels and --guidance_scale apply as in
// `sample`); they write the results to --out (.npy) and, with --png, a grid with one row
// per image (the first 16): the input, for inpaint the input with the unknown region grey,
// then the result.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/stack.h>
#include <ATen/ops/ones.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "assembly/image_to_image.h"
#include "eval/image_grid.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/npy.h"
#include "util/status_macros.h"

ABSL_FLAG(double, strength, -1,
          "img2img: the share of the sampler's grid run from the noised images, in [0, 1] "
          "(default 0.5); inpaint: default 1 (from pure noise).");
ABSL_FLAG(std::string, mask, "",
          "inpaint: the known region, 1 = keep: a .npy broadcastable to the images, or "
          "lower_half, upper_half, left_half, right_half, center (the generated region).");
ABSL_FLAG(int, resample, 1, "inpaint: RePaint's passes over every stretch of --jump steps.");
ABSL_FLAG(int, jump, 10, "inpaint: RePaint's jump length, in steps.");

namespace diffuse {
namespace {

// A keyword mask [1, 1, H, W] for images [N, C, H, W]: 0 over the named region (generated),
// 1 elsewhere (kept).
absl::StatusOr<at::Tensor> MaskFromFlag(const std::string& flag, const at::Tensor& images) {
  if (absl::EndsWith(flag, ".npy")) return ReadTensor(flag);
  if (images.dim() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--mask=", flag, ": keyword masks are for images [N, C, H, W]; give a .npy"));
  }
  const int64_t h = images.size(2), w = images.size(3);
  at::Tensor mask = at::ones({1, 1, h, w}, at::kFloat);
  if (flag == "lower_half") {
    mask.narrow(2, h / 2, h - h / 2).zero_();
  } else if (flag == "upper_half") {
    mask.narrow(2, 0, h / 2).zero_();
  } else if (flag == "left_half") {
    mask.narrow(3, 0, w / 2).zero_();
  } else if (flag == "right_half") {
    mask.narrow(3, w / 2, w - w / 2).zero_();
  } else if (flag == "center") {
    mask.narrow(2, h / 4, h / 2).narrow(3, w / 4, w / 2).zero_();
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--mask=", flag, ": want a .npy or one of lower_half, upper_half, left_half, "
        "right_half, center"));
  }
  return mask;
}

absl::Status Run(bool inpaint) {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out), png = absl::GetFlag(FLAGS_png);
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}, {"--png", png}}));
  if (inpaint && absl::GetFlag(FLAGS_mask).empty()) {
    return absl::InvalidArgumentError("--mask is required");
  }
  if (!inpaint && !absl::GetFlag(FLAGS_mask).empty()) {
    return absl::InvalidArgumentError("--mask: img2img takes none (use inpaint)");
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  ABSL_ASSIGN_OR_RETURN(at::Tensor images, ImagesFromFlags(p.get()));
  ImageToImageRequest request;
  request.images = images;
  const double strength = absl::GetFlag(FLAGS_strength);
  request.strength = strength >= 0 ? strength : inpaint ? 1.0 : 0.5;
  request.seed = absl::GetFlag(FLAGS_seed) >= 0 ? absl::GetFlag(FLAGS_seed)
                                                : p->config.sampler().seed();
  request.progress = &std::cerr;
  if (inpaint) {
    ABSL_ASSIGN_OR_RETURN(request.mask, MaskFromFlag(absl::GetFlag(FLAGS_mask), images));
    request.resample = absl::GetFlag(FLAGS_resample);
    request.jump = absl::GetFlag(FLAGS_jump);
  }
  ABSL_ASSIGN_OR_RETURN(Generated result, ImageToImage(*p, request));
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(result.samples)));
  // Beside it, the inputs and each result's prompt (`image-eval` scores the edits with them).
  ABSL_RETURN_IF_ERROR(WriteNpy(OriginalsPath(out), ToNpy(images)));
  ABSL_RETURN_IF_ERROR(WritePromptsFile(p->config.sampler(), result.samples.size(0), out));
  std::cout << "wrote " << out << " " << result.samples.sizes() << " (strength "
            << request.strength << ", " << StrengthSteps(p->times.size(), request.strength)
            << " of " << p->times.size() << " steps"
            << (inpaint && request.resample > 1
                    ? absl::StrCat(", ", request.resample, " passes per ", request.jump, " steps")
                    : "")
            << ")\n";
  if (!png.empty()) {
    const int64_t n = std::min<int64_t>(16, images.size(0));
    std::vector<at::Tensor> columns = {images.slice(0, 0, n).to(at::kFloat)};
    if (inpaint) {
      const at::Tensor m = request.mask.to(at::kFloat);
      const at::Tensor shown = m.size(0) == 1 ? m : m.slice(0, 0, n);
      columns.push_back(shown * columns[0]);  // unknown region at 0: mid grey in [-1, 1]
    }
    columns.push_back(result.samples.slice(0, 0, n).to(at::kFloat));
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, at::stack(columns, 1).flatten(0, 1), 2,
                                           static_cast<int>(columns.size())));
    std::cout << "wrote " << png << " (one row per image: input, "
              << (inpaint ? "known region, " : "") << "result)\n";
  }
  return absl::OkStatus();
}

absl::Status Img2ImgCommand() { return Run(/*inpaint=*/false); }
absl::Status InpaintCommand() { return Run(/*inpaint=*/true); }

}  // namespace

DIFFUSE_REGISTER_VERB("img2img", Img2ImgCommand, /*trains=*/false);
DIFFUSE_REGISTER_VERB("inpaint", InpaintCommand, /*trains=*/false);

}  // namespace diffuse
