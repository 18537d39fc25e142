// What the verbs of the diffuse CLI share: the common flags, loading a description (with
// the sampling flags applied) and a trained network's weights, and .npy <-> tensor.
#ifndef DIFFUSE_TOOLS_CLI_COMMON_H_
#define DIFFUSE_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include <ATen/core/Tensor.h>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "assembly/builder.h"
#include "data/image_folder.pb.h"
#include "pipeline/description_kind.h"
#include "training/trainer.h"
#include "util/npy.h"

ABSL_DECLARE_FLAG(std::string, pipeline);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(std::string, checkpoint);
ABSL_DECLARE_FLAG(int64_t, seed);
ABSL_DECLARE_FLAG(std::string, png);
ABSL_DECLARE_FLAG(std::string, labels);
ABSL_DECLARE_FLAG(double, guidance_scale);
ABSL_DECLARE_FLAG(int, negative_class);
ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, images);
ABSL_DECLARE_FLAG(std::string, split);
ABSL_DECLARE_FLAG(std::string, indices);
ABSL_DECLARE_FLAG(std::string, x_T);

namespace diffuse {

// --pipeline, with --labels / --guidance_scale / --negative_class applied; errors are
// prefixed with the file. A description of a kind outside `accepted` is refused with a line
// that says which verbs read it (an autoencoder: train, train-latent-prior, sample, encode,
// decode; a classifier or text-image description: train).
absl::StatusOr<std::unique_ptr<Pipeline>> LoadPipeline(
    std::initializer_list<DescriptionKind> accepted = {DescriptionKind::kDiffusion});

// --checkpoint (a checkpoint.pt or .safetensors) into a trained pipeline; required exactly
// when the pipeline has a network.
absl::Status LoadTrainedWeights(Pipeline& p);

// float64 tensors are written as float64, everything else as float32.
NpyArray ToNpy(const at::Tensor& t);
// float64 files give float64 tensors, float32 (and integer) files float32.
at::Tensor FromNpy(const NpyArray& a);

// Reads an .npy of N >= 1 rows; a 0-d or empty array is an error naming the file.
absl::StatusOr<at::Tensor> ReadTensor(const std::string& path);

// Fashion-MNIST images first:end of --split (train / test; --indices), in [-1, 1], with
// their labels.
struct SplitSlice {
  at::Tensor images;  // [N, 1, 28, 28] float32
  at::Tensor labels;  // [N] int64
};
absl::StatusOr<SplitSlice> SplitFromFlags();

// The images of --images (.npy, or an image-folder manifest .jsonl / .json / .csv whose
// pictures --indices prepared as `pipeline`'s data is) or of --split / --indices; exactly
// one of --images and --split must be given.
absl::StatusOr<at::Tensor> ImagesFromFlags(const Pipeline* pipeline = nullptr);

// The `split` ("train", "test" or "all") of `config`'s data, which must be an image folder;
// errors name `field` (the flag that gave the description). *options (may be null) receives
// the data's options.
absl::StatusOr<std::unique_ptr<Dataset>> ImageFolderSplit(const PipelineConfig& config,
                                                           const std::string& split,
                                                           const std::string& field,
                                                           ImageFolderOptions* options = nullptr);

// One line for the end of a training run: "trained WHAT steps a..b in s, loss x -> y; wrote
// CHECKPOINT", or, when the checkpoint was already at the last step, that nothing was done;
// "" on the ranks of a data-parallel run that do not write.
std::string TrainingSummaryLine(const std::string& what, const TrainingSummary& s,
                                const std::string& dir);

// Fails, naming the flag, when an output file cannot be written (its folder does not
// exist, the path is a folder, the folder refuses a new file), so that a verb checks every
// output before it works or writes the first (and a failure leaves nothing behind).
// Empty paths (outputs not asked for) are skipped.
absl::Status CheckOutputFolders(
    std::initializer_list<std::pair<const char*, std::string>> flag_and_path);

// FILE.npy -> FILE_labels.npy, where `sample` writes labels and `eval` looks for them.
std::string LabelsPath(const std::string& samples_path);
// FILE.npy -> FILE_prompts.txt (one prompt per sample, one per line).
std::string PromptsPath(const std::string& samples_path);
// Writes PromptsPath(out): each of `num` samples' prompt (sampler.prompts round-robin), one
// line each (newlines inside a prompt become spaces); without prompts a file of an earlier
// run goes, so that `eval` never scores these samples against other prompts.
absl::Status WritePromptsFile(const SamplerOptions& sampler, int64_t num, const std::string& out);
// FILE.npy -> FILE_x_hat.npy (the image condition each sample was refined from).
std::string XHatPath(const std::string& samples_path);
// FILE.npy -> FILE_original.npy (the images `edit` edited into FILE.npy).
std::string OriginalsPath(const std::string& edited_path);

// n exact samples of the data's mixture (which must exist) from `seed`.
at::Tensor ExactSamples(const Pipeline& p, int64_t n, uint64_t seed);

// The table `eval` and `demo` print: samples against the data's mixture beside exact
// samples; an error when the data has no known distribution or the shape is wrong.
absl::StatusOr<std::string> QualityReport(const Pipeline& p, const at::Tensor& samples,
                                          const std::string& name);

}  // namespace diffuse

#endif  // DIFFUSE_TOOLS_CLI_COMMON_H_
