// `diffuse encode`: images to Diffusion Autoencoders' two codes, z_sem (the encoder) and
// x_T (DDIM inversion conditioned on z_sem; pipeline/encode.h).
#include <iostream>
#include <string>

#include <torch/torch.h>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "data/fashion_mnist_files.h"
#include "eval/image_grid.h"
#include "pipeline/encode.h"
#include "tools/cli_common.h"
#include "tools/commands.h"
#include "util/npy.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, images, "", "encode: the images to encode (.npy, [N, C, H, W] in [-1, 1]).");
ABSL_FLAG(std::string, split, "",
          "encode: instead of --images, Fashion-MNIST's 'train' or 'test' split (from --data_dir).");
ABSL_FLAG(std::string, indices, "0:64", "encode --split: the images first:end of the split.");
ABSL_FLAG(std::string, x_T_out, "",
          "encode: also write x_T, the stochastic code (.npy; DDIM inversion on the sampler grid).");

namespace diffuse {
namespace {

absl::StatusOr<at::Tensor> SplitImages() {
  const std::string split = absl::GetFlag(FLAGS_split);
  if (split != "train" && split != "test") {
    return absl::InvalidArgumentError(absl::StrCat("--split: '", split, "' is not train or test"));
  }
  const std::vector<std::string> range = absl::StrSplit(absl::GetFlag(FLAGS_indices), ':');
  int64_t first = 0, end = 0;
  if (range.size() != 2 || !absl::SimpleAtoi(range[0], &first) ||
      !absl::SimpleAtoi(range[1], &end) || first < 0 || end <= first) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--indices: '", absl::GetFlag(FLAGS_indices), "' is not first:end with first < end"));
  }
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit data,
                        ReadFashionMnist(absl::GetFlag(FLAGS_data_dir), split == "train"));
  if (end > data.images.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat("--indices: the ", split, " split has ",
                                                   data.images.size(0), " images"));
  }
  return FashionMnistToFloat(data.images.slice(0, first, end));
}

}  // namespace

absl::Status EncodeCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  const std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) return absl::InvalidArgumentError("--out (the z .npy) is required");
  if (absl::GetFlag(FLAGS_images).empty() == absl::GetFlag(FLAGS_split).empty()) {
    return absl::InvalidArgumentError("give one of --images and --split");
  }
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  at::Tensor images;
  if (!absl::GetFlag(FLAGS_images).empty()) {
    ABSL_ASSIGN_OR_RETURN(images, ReadTensor(absl::GetFlag(FLAGS_images)));
  } else {
    ABSL_ASSIGN_OR_RETURN(images, SplitImages());
  }
  const std::string x_T_out = absl::GetFlag(FLAGS_x_T_out);
  absl::StatusOr<Encoded> encoded = EncodeImages(*p, images, !x_T_out.empty());
  if (!encoded.ok() && encoded.status().code() == absl::StatusCode::kInvalidArgument) {
    const std::string source =
        absl::GetFlag(FLAGS_images).empty() ? "--split" : absl::GetFlag(FLAGS_images);
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", encoded.status().message()));
  }
  ABSL_RETURN_IF_ERROR(encoded.status());
  ABSL_RETURN_IF_ERROR(WriteNpy(out, ToNpy(encoded->latent)));
  std::cout << "wrote " << out << " " << encoded->latent.sizes() << "\n";
  if (!x_T_out.empty()) {
    ABSL_RETURN_IF_ERROR(WriteNpy(x_T_out, ToNpy(encoded->x_T)));
    std::cout << "wrote " << x_T_out << " " << encoded->x_T.sizes() << "\n";
  }
  if (const std::string png = absl::GetFlag(FLAGS_png); !png.empty()) {
    ABSL_RETURN_IF_ERROR(WriteImageGridPng(png, images.slice(0, 0, 100).to(torch::kFloat32)));
    std::cout << "wrote " << png << " (the encoded images)\n";
  }
  return absl::OkStatus();
}

}  // namespace diffuse
