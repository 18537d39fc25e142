// `diffuse eval`: samples against the data's known mixture, or (--classifier) Fashion-MNIST
// images scored by the evaluation classifier (accuracy, Frechet distance of its features).
#include <iostream>
#include <memory>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "eval/fashion_classifier.h"
#include "eval/image_quality.h"
#include "eval/prompt_adherence.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/atomic_file.h"
#include "util/npy.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, samples, "", "eval: samples to evaluate (.npy).");
ABSL_FLAG(std::string, classifier, "",
          "eval: the evaluation classifier checkpoint (from train-classifier) for images.");
ABSL_FLAG(std::string, same_class_as, "",
          "eval --classifier: also the fraction of images the classifier puts in the class "
          "of the same row of these images (.npy of the same shape), e.g. DiffuseVAE's "
          "refined samples against their x_hat (FILE_x_hat.npy).");
ABSL_FLAG(std::string, features_out, "",
          "eval --classifier: also write each image's classifier features (.npy, [N, 128]), "
          "the space the Frechet distance is measured in.");

namespace diffuse {

namespace {

absl::Status EvalImages() {
  const std::string path = absl::GetFlag(FLAGS_samples);
  ABSL_ASSIGN_OR_RETURN(const at::Tensor images, ReadTensor(path));
  ABSL_ASSIGN_OR_RETURN(std::shared_ptr<FashionClassifierImpl> classifier,
                        LoadFashionClassifier(absl::GetFlag(FLAGS_classifier)));
  at::Tensor labels;
  if (FileExists(LabelsPath(path))) {
    ABSL_ASSIGN_OR_RETURN(labels, ReadTensor(LabelsPath(path)));
    labels = labels.round().to(at::kLong);
  }
  absl::StatusOr<std::string> report =
      ImageQualityReport(*classifier, absl::GetFlag(FLAGS_data_dir), images, labels,
                         labels.defined() ? "samples (labels from " + LabelsPath(path) + ")"
                                          : "samples (unlabelled)");
  if (!report.ok()) {
    return absl::Status(report.status().code(),
                        absl::StrCat(path, ": ", report.status().message()));
  }
  std::cout << *report;
  if (const std::string other_path = absl::GetFlag(FLAGS_same_class_as); !other_path.empty()) {
    ABSL_ASSIGN_OR_RETURN(const at::Tensor other, ReadTensor(other_path));
    if (other.sizes() != images.sizes()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--same_class_as: ", other_path, " has shape [", absl::StrJoin(other.sizes(), ", "),
          "], the samples [", absl::StrJoin(images.sizes(), ", "), "]"));
    }
    const ClassifierOutputs mine = Classify(*classifier, images.to(at::kFloat));
    const ClassifierOutputs theirs = Classify(*classifier, other.to(at::kFloat));
    const at::Tensor a = mine.logits.argmax(1), b = theirs.logits.argmax(1);
    std::cout << absl::StrFormat("same class as %s: %.3f (%d / %d)\n", other_path,
                                 a.eq(b).to(at::kDouble).mean().item<double>(),
                                 a.eq(b).sum().item<int64_t>(), a.size(0));
    // Identity (edits): the feature distance of each image to its own counterpart, against
    // that to another's (the previous one), and the mean absolute pixel change.
    const at::Tensor fa = mine.features.to(at::kDouble), fb = theirs.features.to(at::kDouble);
    const double paired = (fa - fb).norm(2, 1).mean().item<double>();
    const double unpaired = (fa - fb.roll(1, 0)).norm(2, 1).mean().item<double>();
    if (images.size(0) >= 2) std::cout << absl::StrFormat(
        "identity to %s: feature distance %.3f (to another image: %.3f; ratio %.3f), mean "
        "|pixel change| %.4f\n",
        other_path, paired, unpaired, paired / unpaired,
        (images.to(at::kDouble) - other.to(at::kDouble)).abs().mean().item<double>());
  }
  // Samples of prompts (`sample --prompt`): how often each word holds.
  if (const std::string prompts_path = PromptsPath(path); FileExists(prompts_path)) {
    ABSL_ASSIGN_OR_RETURN(const std::string text, ReadFile(prompts_path));
    std::vector<std::string> prompts = absl::StrSplit(text, '\n');
    if (!prompts.empty() && prompts.back().empty()) prompts.pop_back();
    const ClassifierOutputs outputs = Classify(*classifier, images.to(at::kFloat));
    absl::StatusOr<std::map<std::string, WordAdherence>> adherence =
        FashionPromptAdherence(images, prompts, outputs.logits.argmax(1));
    if (!adherence.ok()) {
      return absl::Status(adherence.status().code(),
                          absl::StrCat(prompts_path, ": ", adherence.status().message()));
    }
    std::cout << "prompt adherence (" << prompts_path << "): the fraction of images whose "
              << "prompt word holds\n"
              << AdherenceReport(*adherence);
  }
  if (const std::string features = absl::GetFlag(FLAGS_features_out); !features.empty()) {
    // The report has checked the shape.
    const ClassifierOutputs outputs = Classify(*classifier, images.to(at::kFloat));
    ABSL_RETURN_IF_ERROR(WriteNpy(features, ToNpy(outputs.features)));
    std::cout << "wrote " << features << " " << outputs.features.sizes() << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EvalCommand() {
  ABSL_RETURN_IF_ERROR(CheckOutputFolders({{"--features_out", absl::GetFlag(FLAGS_features_out)}}));
  if (absl::GetFlag(FLAGS_samples).empty()) return absl::InvalidArgumentError("--samples is required");
  if (!absl::GetFlag(FLAGS_classifier).empty()) return EvalImages();
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  ABSL_ASSIGN_OR_RETURN(const at::Tensor samples, ReadTensor(absl::GetFlag(FLAGS_samples)));
  ABSL_ASSIGN_OR_RETURN(std::string report,
                        QualityReport(*p, samples, absl::GetFlag(FLAGS_samples)));
  std::cout << report;
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("eval", EvalCommand, /*trains=*/false);

}  // namespace diffuse
