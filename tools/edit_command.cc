// `diffuse edit`: real images edited by the description's edit section (edit/editor.h):
// Asyrp's learned h-space shift or DiffusionCLIP's fine-tuned model / optimized noise.
// Learns the edit from --learn_images (or loads it, --learned), then edits the images of
// --images or --split/--indices into --out, writing beside it the originals
// (OUT_original.npy, for `eval --same_class_as`) and the target prompt or class of each
// image (OUT_prompts.txt for `eval`'s prompt adherence, OUT_labels.npy for its accuracy).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/full.h>
#include <ATen/ops/ones_like.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "edit/editor.h"
#include "eval/image_grid.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/atomic_file.h"
#include "util/npy.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, learn_images, "",
          "edit: the training images of the edit (.npy [N, 1, 28, 28] in [-1, 1]).");
ABSL_FLAG(std::string, learned, "",
          "edit: load the learned edit (Asyrp's f_t, a fine-tuned model) instead of learning.");
ABSL_FLAG(std::string, save_learned, "", "edit: write the learned edit here (.pt).");
ABSL_FLAG(bool, reconstruct, false,
          "edit: write the same chain without the edit instead (the baseline of identity: "
          "Asyrp with shift_scale 0, DiffusionCLIP's DDIM round trip); learns nothing.");
ABSL_FLAG(double, shift_scale, std::numeric_limits<double>::quiet_NaN(),
          "edit: overrides edit.shift_scale (Asyrp's linearity: 0 is the unedited sampler).");

namespace diffuse {
namespace {

// Rows of ten: originals, then their edits, for the first 50 images; blank tiles pad every
// row to ten and the grid to 100 tiles (WriteImageGridPng lays N tiles in ceil(sqrt N)
// columns).
at::Tensor PairedGrid(const at::Tensor& original, const at::Tensor& edited) {
  const at::Tensor blank = -at::ones_like(original[0]).unsqueeze(0);
  std::vector<at::Tensor> tiles;
  for (int64_t i = 0; i < std::min<int64_t>(original.size(0), 50); i += 10) {
    for (const at::Tensor& images : {original, edited}) {
      const at::Tensor row = images.slice(0, i, i + 10).to(original.scalar_type());
      tiles.push_back(row);
      if (row.size(0) < 10) tiles.push_back(blank.expand({10 - row.size(0), -1, -1, -1}));
    }
  }
  int64_t count = 0;
  for (const at::Tensor& t : tiles) count += t.size(0);
  if (count < 100) tiles.push_back(blank.expand({100 - count, -1, -1, -1}));
  return at::cat(tiles).to(at::kFloat);
}

// Images of the data's shape, finite and in the data range [-1, 1] (uint8 0..255 files are
// the usual mistake).
absl::Status CheckImages(const at::Tensor& x, at::IntArrayRef sample_shape,
                         const std::string& source) {
  if (x.dim() != 4 || x.sizes().slice(1) != sample_shape) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": images of shape [",
                                                   absl::StrJoin(x.sizes(), ", "),
                                                   "]; the data's are [N, ",
                                                   absl::StrJoin(sample_shape, ", "), "]"));
  }
  const double lo = x.min().item<double>(), hi = x.max().item<double>();
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo < -1.001 || hi > 1.001) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": values in [", lo, ", ", hi, "]; images must be finite and in [-1, 1]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EditCommand() {
  const std::string out = absl::GetFlag(FLAGS_out), png = absl::GetFlag(FLAGS_png);
  const std::string learn = absl::GetFlag(FLAGS_learn_images);
  const std::string learned = absl::GetFlag(FLAGS_learned);
  const std::string save = absl::GetFlag(FLAGS_save_learned);
  if (out.empty()) return absl::InvalidArgumentError("--out (the edited images, .npy) is required");
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}, {"--png", png}, {"--save_learned", save}}));
  if (!learn.empty() && !learned.empty()) {
    return absl::InvalidArgumentError("--learn_images and --learned: give one (learn, or load)");
  }
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  if (!p->config.has_edit()) {
    return absl::InvalidArgumentError(absl::StrCat("--pipeline ", absl::GetFlag(FLAGS_pipeline),
                                                   ": no edit section (EditOptions)"));
  }
  if (const double scale = absl::GetFlag(FLAGS_shift_scale); !std::isnan(scale)) {
    p->config.mutable_edit()->set_shift_scale(scale);
  }
  const bool reconstruct = absl::GetFlag(FLAGS_reconstruct);
  const EditOptions::Method method = p->config.edit().method();
  const std::string method_name = absl::StrCat("edit.method ", EditOptions::Method_Name(method));
  const bool learns = method != EditOptions::OPTIMIZE_NOISE && !reconstruct;
  if (method == EditOptions::OPTIMIZE_NOISE && !(learn.empty() && learned.empty() && save.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--learn_images / --learned / --save_learned: ", method_name,
        " learns nothing before editing (it optimizes each image's noise)"));
  }
  if (!save.empty() && (reconstruct || !learned.empty())) {
    return absl::InvalidArgumentError("--save_learned: nothing is learned with --reconstruct or --learned");
  }
  if (!std::isnan(absl::GetFlag(FLAGS_shift_scale)) && method != EditOptions::ASYRP) {
    return absl::InvalidArgumentError(absl::StrCat("--shift_scale: ", method_name,
                                                   " has no shift (ASYRP's)"));
  }
  if (learns && learn.empty() && learned.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        method_name, " learns the edit: give --learn_images (or --learned, an edit learned before)"));
  }
  if (reconstruct && !(learn.empty() && learned.empty())) {
    return absl::InvalidArgumentError("--reconstruct learns nothing: drop --learn_images / --learned");
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  absl::StatusOr<std::unique_ptr<Editor>> built = BuildEditor(*p);
  if (!built.ok()) {
    return absl::Status(built.status().code(), absl::StrCat("--pipeline ", absl::GetFlag(FLAGS_pipeline),
                                                            ": ", built.status().message()));
  }
  Editor& editor = **built;
  ABSL_ASSIGN_OR_RETURN(const at::Tensor images, ImagesFromFlags());
  const std::vector<int64_t> sample_shape = p->data->sample_shape();
  ABSL_RETURN_IF_ERROR(CheckImages(
      images, sample_shape,
      absl::GetFlag(FLAGS_images).empty() ? "--split" : "--images " + absl::GetFlag(FLAGS_images)));
  if (!learned.empty()) {
    ABSL_RETURN_IF_ERROR(LoadLearned(editor, learned));
    std::cout << "loaded the learned edit " << learned << "\n";
  } else if (learns) {
    ABSL_ASSIGN_OR_RETURN(const at::Tensor train, ReadTensor(learn));
    ABSL_RETURN_IF_ERROR(CheckImages(train, sample_shape, "--learn_images " + learn));
    ABSL_RETURN_IF_ERROR(editor.Learn(train.to(editor.context().dtype), &std::cerr));
    if (!save.empty()) {
      ABSL_RETURN_IF_ERROR(SaveLearned(editor, save));
      std::cout << "wrote " << save << "\n";
    }
  }
  const at::Tensor x0 = images.to(editor.context().dtype);
  const at::Tensor edited =
      (reconstruct ? editor.Reconstruct(x0, 0) : editor.Apply(x0, 0, &std::cerr)).detach();
  {
    // Homogeneity: how the edit loss (e.g. 1 - the cosine of each image's change with the
    // text direction) spreads over the images.
    at::NoGradGuard no_grad;
    const at::Tensor loss = editor.context().loss->Loss(edited, x0).to(at::kDouble);
    const at::Tensor sorted = std::get<0>(loss.sort());
    std::cout << absl::StrFormat(
        "edit loss of the %s against the originals: mean %.4f, median %.4f, 90th percentile "
        "%.4f\n",
        reconstruct ? "reconstructions" : "edits", loss.mean().item<double>(),
        sorted[sorted.size(0) / 2].item<double>(), sorted[sorted.size(0) * 9 / 10].item<double>());
  }
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(edited)));
  const std::string original = OriginalsPath(out);
  ABSL_RETURN_IF_ERROR(WriteNpy(original, ToNpy(x0)));
  std::cout << "wrote " << out << " " << edited.sizes() << " and " << original << "\n";
  const std::string prompts = PromptsPath(out);
  if (const std::string target = editor.context().loss->target_prompt(); !target.empty()) {
    std::string lines;
    for (int64_t i = 0; i < edited.size(0); ++i) absl::StrAppend(&lines, target, "\n");
    ABSL_RETURN_IF_ERROR(WriteFileAtomically(prompts, lines));
  } else if (FileExists(prompts)) {
    std::remove(prompts.c_str());  // a stale file would be read as these images' prompts
  }
  const std::string labels = LabelsPath(out);
  if (const int64_t target = editor.context().loss->target_label(); target >= 0) {
    ABSL_RETURN_IF_ERROR(WriteNpy(labels, ToNpy(at::full({edited.size(0)}, target, at::kLong))));
  } else if (FileExists(labels)) {
    std::remove(labels.c_str());
  }
  if (!png.empty()) {
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, PairedGrid(images, edited)));
    std::cout << "wrote " << png << " (rows of ten: originals, then their edits)\n";
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("edit", EditCommand, /*trains=*/false);

}  // namespace diffuse
