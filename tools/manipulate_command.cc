// `diffuse manipulate`: attribute editing on z_sem (Preechakul et al. 2022, sec. 4.3): a
// logistic regression on the encoded images of two classes gives a direction; each image's
// z_sem is moved along it by each scale (in standard deviations) and decoded with the
// image's own x_T, so everything z_sem does not hold is kept.
#include <iostream>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/cat.h>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "assembly/encode.h"
#include "assembly/generate.h"
#include "assembly/latent_edits.h"
#include "data/fashion_mnist_files.h"
#include "eval/image_grid.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, attribute, "",
          "manipulate: NEG,POS, two Fashion-MNIST classes; the direction points from NEG to POS.");
ABSL_FLAG(std::string, attribute_indices, "0:10000",
          "manipulate: the training images first:end whose z_sem fit the direction.");
ABSL_FLAG(std::string, scales, "-2,-1,0,1,2", "manipulate: moves along the direction (stds).");

namespace diffuse {
namespace {

absl::StatusOr<std::vector<int64_t>> ParseInts(const std::string& flag, const std::string& text) {
  std::vector<int64_t> out;
  for (absl::string_view item : absl::StrSplit(text, absl::ByAnyChar(",:"))) {
    int64_t v;
    if (!absl::SimpleAtoi(item, &v)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, ": '", item, "' is not an integer"));
    }
    out.push_back(v);
  }
  return out;
}

}  // namespace

absl::Status ManipulateCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out);
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--out", out}, {"--png", absl::GetFlag(FLAGS_png)}}));
  if (out.empty()) return absl::InvalidArgumentError("--out (a .npy file) is required");
  ABSL_ASSIGN_OR_RETURN(std::vector<int64_t> classes,
                        ParseInts("--attribute", absl::GetFlag(FLAGS_attribute)));
  if (classes.size() != 2 || classes[0] == classes[1] || classes[0] < 0 || classes[0] > 9 ||
      classes[1] < 0 || classes[1] > 9) {
    return absl::InvalidArgumentError("--attribute: want NEG,POS, two classes in 0..9");
  }
  ABSL_ASSIGN_OR_RETURN(std::vector<int64_t> range,
                        ParseInts("--attribute_indices", absl::GetFlag(FLAGS_attribute_indices)));
  std::vector<double> scales;
  for (absl::string_view item : absl::StrSplit(absl::GetFlag(FLAGS_scales), ',')) {
    double s;
    if (!absl::SimpleAtod(item, &s) || !std::isfinite(s)) {
      return absl::InvalidArgumentError(absl::StrCat("--scales: '", item, "' is not a number"));
    }
    scales.push_back(s);
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit train, ReadFashionMnist(absl::GetFlag(FLAGS_data_dir), true));
  if (range.size() != 2 || range[0] < 0 || range[1] <= range[0] || range[1] > train.images.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--attribute_indices: want first:end within the ", train.images.size(0), " training images"));
  }
  const at::Tensor labels = train.labels.slice(0, range[0], range[1]);
  const at::Tensor keep = labels.eq(classes[0]) | labels.eq(classes[1]);
  const at::Tensor fit_images = FashionMnistToFloat(train.images.slice(0, range[0], range[1]).index({keep}));
  if (fit_images.size(0) < 2) {
    return absl::InvalidArgumentError("--attribute_indices hold fewer than 2 images of the two classes");
  }
  ABSL_ASSIGN_OR_RETURN(Encoded fit, EncodeImages(*p, fit_images, /*with_x_T=*/false));
  const LatentDirection direction = FitLatentDirection(fit.latent, labels.index({keep}).eq(classes[1]));
  std::cout << absl::StrFormat("direction %d -> %d from %d encoded training images: probe accuracy %.4f\n",
                               classes[0], classes[1], fit_images.size(0), direction.train_accuracy);
  ABSL_ASSIGN_OR_RETURN(at::Tensor images, ImagesFromFlags(p.get()));
  ABSL_ASSIGN_OR_RETURN(Encoded e, EncodeImages(*p, images, /*with_x_T=*/true));
  const int64_t n = images.size(0), k = static_cast<int64_t>(scales.size());
  std::vector<at::Tensor> latents;
  for (int64_t i = 0; i < n; ++i) {
    for (double s : scales) latents.push_back(direction.Move(e.latent[i].unsqueeze(0), s));
  }
  GenerateRequest request;
  request.num = n * k;
  request.latent = at::cat(latents, 0);
  request.x_start = e.x_T.repeat_interleave(k, 0);
  ABSL_ASSIGN_OR_RETURN(Generated generated, Generate(*p, request));
  std::vector<int64_t> shape = {n, k};
  for (int64_t d : images.sizes().slice(1)) shape.push_back(d);
  const at::Tensor edits = generated.samples.view(shape);
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(edits)));
  std::cout << "wrote " << out << " " << edits.sizes() << " (image x scale)\n";
  if (const std::string png = absl::GetFlag(FLAGS_png); !png.empty()) {
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, edits.flatten(0, 1).to(at::kFloat).slice(0, 0, 100)));
    std::cout << "wrote " << png << " (one row per image, one column per scale)\n";
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("manipulate", ManipulateCommand, /*trains=*/false);

}  // namespace diffuse
