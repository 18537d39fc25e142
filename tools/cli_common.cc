#include "tools/cli_common.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/tensor.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "assembly/trained_loader.h"
#include "data/dataset.h"
#include "data/fashion_mnist_files.h"
#include "data/image_folder.pb.h"
#include "eval/mixture_metrics.h"
#include "guidance/classifier_free.pb.h"
#include "pipeline/registry.h"
#include "pipeline/trained_description.h"
#include "training/trainer.h"
#include "assembly/weights_file.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, pipeline, "", "Pipeline description (text-format protobuf).");
ABSL_FLAG(std::string, out, "",
          "train/demo: output directory; sample: the .npy to write (as the data decodes "
          "samples: grey-level tokens as float32 images in [-1, 1]).");
ABSL_FLAG(std::string, checkpoint, "", "sample, encode, decode, export: checkpoint (or .safetensors weights) of a trained network.");
ABSL_FLAG(int64_t, seed, -1, "sample: noise seed (-1: sampler.seed of the description).");
ABSL_FLAG(std::string, png, "", "sample: also write a PNG (scatter plot of 2-D data, or a grid of the first 100 images).");
ABSL_FLAG(std::string, labels, "",
          "sample: class labels assigned round-robin, e.g. 0,1,2 (replaces sampler.labels; "
          "-1 is the null class).");
ABSL_FLAG(double, guidance_scale, std::nan(""),
          "sample: classifier-free guidance scale w, x0 = (1 + w) x0(c) - w x0(negative) "
          "(replaces the description's; adds the guidance term if there is none).");
ABSL_FLAG(int, negative_class, -2,
          "sample: the negative class of classifier-free guidance (-1: the null class; "
          "default: the description's).");
ABSL_FLAG(std::string, prompt, "",
          "sample: text prompts, ';'-separated, assigned round-robin (replaces "
          "sampler.prompts), e.g. \"dark sandal;light sandal\".");
ABSL_FLAG(std::string, negative_prompt, "",
          "sample: what classifier-free guidance on text and CLIP guidance steer away from "
          "(replaces sampler.negative_prompt).");
ABSL_FLAG(std::string, data_dir, diffuse::kFashionMnistDir,
          "train-classifier, eval --classifier, encode --split: the Fashion-MNIST IDX files.");

ABSL_FLAG(std::string, x_T, "", "sample, decode: start from these states (.npy, [num, ...]).");
ABSL_FLAG(std::string, images, "", "encode, vary, interpolate, manipulate: the images (.npy, [N, C, H, W] in [-1, 1]).");
ABSL_FLAG(std::string, split, "",
          "instead of --images, Fashion-MNIST's 'train' or 'test' split (from --data_dir).");
ABSL_FLAG(std::string, indices, "0:64", "--split: the images first:end of the split.");

namespace diffuse {
namespace {

// --labels, --prompt, --negative_prompt, --guidance_scale and --negative_class replace the
// description's values.
absl::Status ApplySamplingFlags(PipelineConfig& config) {
  if (!absl::GetFlag(FLAGS_prompt).empty()) {
    config.mutable_sampler()->clear_prompts();
    for (absl::string_view prompt : absl::StrSplit(absl::GetFlag(FLAGS_prompt), ';')) {
      config.mutable_sampler()->add_prompts(std::string(prompt));
    }
  }
  if (!absl::GetFlag(FLAGS_negative_prompt).empty()) {
    config.mutable_sampler()->set_negative_prompt(absl::GetFlag(FLAGS_negative_prompt));
  }
  if (!absl::GetFlag(FLAGS_labels).empty()) {
    config.mutable_sampler()->clear_labels();
    for (absl::string_view item : absl::StrSplit(absl::GetFlag(FLAGS_labels), ',')) {
      int label;
      if (!absl::SimpleAtoi(item, &label)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--labels: '", item, "' is not an integer"));
      }
      config.mutable_sampler()->add_labels(label);
    }
  }
  const double scale = absl::GetFlag(FLAGS_guidance_scale);
  const int negative = absl::GetFlag(FLAGS_negative_class);
  if (std::isnan(scale) && negative == -2) return absl::OkStatus();
  ComponentSpec* cfg = nullptr;
  for (ComponentSpec& g : *config.mutable_guidance()) {
    if (g.name() == "classifier_free") cfg = &g;
  }
  if (cfg == nullptr) {
    cfg = config.add_guidance();
    cfg->set_name("classifier_free");
  }
  ClassifierFreeGuidanceOptions options;
  if (cfg->has_options() && !cfg->options().UnpackTo(&options)) {
    return absl::InvalidArgumentError("guidance 'classifier_free' has unreadable options");
  }
  if (!std::isnan(scale)) options.set_scale(scale);
  if (negative != -2) options.set_negative_label(negative);
  cfg->mutable_options()->PackFrom(options);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pipeline>> LoadPipeline(
    std::initializer_list<DescriptionKind> accepted) {
  const std::string path = absl::GetFlag(FLAGS_pipeline);
  if (path.empty()) return absl::InvalidArgumentError("--pipeline is required");
  ABSL_ASSIGN_OR_RETURN(PipelineConfig config, LoadPipelineFile(path));
  ABSL_RETURN_IF_ERROR(ApplySamplingFlags(config));
  absl::StatusOr<std::unique_ptr<Pipeline>> pipeline = BuildPipeline(config);
  if (!pipeline.ok()) {
    return absl::Status(pipeline.status().code(),
                        absl::StrCat(path, ": ", pipeline.status().message()));
  }
  const DescriptionKind kind = (*pipeline)->kind;
  if (std::find(accepted.begin(), accepted.end(), kind) != accepted.end()) return pipeline;
  if (kind == DescriptionKind::kAutoencoder) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": decoder '", config.decoder().name(), "': an autoencoder description is "
        "trained by `train` (and its model of z by `train-latent-prior`) and sampled by "
        "`sample`, and `encode` / `decode` map images to z and back; this verb needs a "
        "diffusion model"));
  }
  if (kind == DescriptionKind::kClassifier) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": classifier '", config.classifier().name(), "': a classifier description is "
        "trained by `train` and read by guidance \"classifier\" (classifier "
        "\"trained_classifier\" with its checkpoint); this verb needs a diffusion model"));
  }
  if (kind == DescriptionKind::kTextImage) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": text_encoder '", config.text_encoder().name(), "': a text-image description "
        "is trained by `train` and read by guidance \"clip\" and text_encoder "
        "\"trained_text_encoder\" (with its checkpoint); this verb needs a diffusion model"));
  }
  return absl::FailedPreconditionError(
      absl::StrCat(path, ": this verb does not read a ", DescriptionKindName(kind), " description"));
}

// float64 tensors are written as float64, everything else as float32.
NpyArray ToNpy(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  NpyArray a;
  a.shape.assign(c.sizes().begin(), c.sizes().end());
  a.data.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  a.float64 = t.scalar_type() == at::kDouble;
  return a;
}

// float64 files give float64 tensors, float32 files float32.
at::Tensor FromNpy(const NpyArray& a) {
  return at::tensor(a.data, at::kDouble)
      .reshape(a.shape)
      .to(a.float64 ? at::kDouble : at::kFloat);
}

absl::Status LoadTrainedWeights(Pipeline& p) {
  const std::string checkpoint = absl::GetFlag(FLAGS_checkpoint);
  if (p.trained_module() == nullptr) return absl::OkStatus();
  if (checkpoint.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--checkpoint is required: ",
        p.kind == DescriptionKind::kAutoencoder
            ? absl::StrCat("decoder '", p.config.decoder().name(), "'")
            : absl::StrCat("predictor '", p.config.predictor().name(), "'"),
        " is trained"));
  }
  return absl::EndsWith(checkpoint, ".safetensors") ? ImportWeights(p, checkpoint)
                                                    : LoadWeightsForSampling(p, checkpoint);
}

absl::StatusOr<at::Tensor> ReadTensor(const std::string& path) {
  ABSL_ASSIGN_OR_RETURN(NpyArray a, ReadNpy(path));
  if (a.shape.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": a 0-d array; want [N, ...]"));
  }
  if (a.shape[0] == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": holds no samples (shape [0, ...]); want [N, ...] with N >= 1"));
  }
  return FromNpy(a);
}

namespace {

// The indices first:end of --indices.
absl::StatusOr<std::pair<int64_t, int64_t>> IndicesFromFlag() {
  const std::vector<std::string> range = absl::StrSplit(absl::GetFlag(FLAGS_indices), ':');
  int64_t first = 0, end = 0;
  if (range.size() != 2 || !absl::SimpleAtoi(range[0], &first) ||
      !absl::SimpleAtoi(range[1], &end) || first < 0 || end <= first) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--indices: '", absl::GetFlag(FLAGS_indices), "' is not first:end with first < end"));
  }
  return std::make_pair(first, end);
}

}  // namespace

absl::StatusOr<SplitSlice> SplitFromFlags() {
  const std::string split = absl::GetFlag(FLAGS_split);
  if (split != "train" && split != "test") {
    return absl::InvalidArgumentError(absl::StrCat("--split: '", split, "' is not train or test"));
  }
  ABSL_ASSIGN_OR_RETURN(const auto range, IndicesFromFlag());
  const int64_t first = range.first, end = range.second;
  ABSL_ASSIGN_OR_RETURN(FashionMnistSplit data,
                        ReadFashionMnist(absl::GetFlag(FLAGS_data_dir), split == "train"));
  if (end > data.images.size(0)) {
    return absl::InvalidArgumentError(absl::StrCat("--indices: the ", split, " split has ",
                                                   data.images.size(0), " images"));
  }
  return SplitSlice{FashionMnistToFloat(data.images.slice(0, first, end)),
                    data.labels.slice(0, first, end)};
}

namespace {

// The pictures first:end of an image-folder manifest, prepared as `p`'s data is (its
// image_folder options, or its sample shape's size and channels).
absl::StatusOr<at::Tensor> ImagesFromManifest(const std::string& manifest, const Pipeline* p) {
  if (p == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--images=", manifest, ": this verb takes .npy images"));
  }
  ImageFolderOptions options;
  if (p->config.data().name() != "image_folder" ||
      !p->config.data().options().UnpackTo(&options)) {
    const std::vector<int64_t> shape = p->data->sample_shape();
    if (shape.size() != 3 || shape[1] != shape[2] || (shape[0] != 1 && shape[0] != 3)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--images=", manifest, ": the pipeline's samples [", absl::StrJoin(shape, ", "),
          "] are not square grey or RGB images"));
    }
    options.set_size(static_cast<int32_t>(shape[1]));
    options.set_channels(static_cast<int32_t>(shape[0]));
  }
  options.set_manifest(manifest);
  options.set_split(ImageFolderOptions::ALL);
  for (auto* column : {options.mutable_split_column(), options.mutable_group_column(),
                       options.mutable_label_column(), options.mutable_caption_column()}) {
    column->clear();
  }
  options.clear_classes();
  options.clear_num_classes();
  ComponentSpec spec;
  spec.set_name("image_folder");
  spec.mutable_options()->PackFrom(options);
  BuildContext context;
  context.config = &p->config;
  absl::StatusOr<std::unique_ptr<Dataset>> data =
      Registry<Dataset>::Global().Create(spec, "--images", context);
  if (!data.ok()) return data.status();
  ABSL_ASSIGN_OR_RETURN(auto range, IndicesFromFlag());
  const int64_t n = (*data)->num_examples();
  if (range.second > n) {
    return absl::InvalidArgumentError(absl::StrCat("--indices: ", manifest, " lists ", n, " images"));
  }
  return (*data)->Examples(range.first, range.second - range.first).x;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Dataset>> ImageFolderSplit(const PipelineConfig& config,
                                                           const std::string& split,
                                                           const std::string& field,
                                                           ImageFolderOptions* options_out) {
  ImageFolderOptions options;
  if (config.data().name() != "image_folder" || !config.data().options().UnpackTo(&options)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": this verb reads the pictures of data \"image_folder\"; the description's "
        "data is '", config.data().name(), "'"));
  }
  ImageFolderOptions::Split which;
  if (!ImageFolderOptions::Split_Parse(absl::AsciiStrToUpper(split), &which)) {
    return absl::InvalidArgumentError(absl::StrCat("--split=", split, ": want train, test or all"));
  }
  options.set_split(which);
  ComponentSpec spec = config.data();
  spec.mutable_options()->PackFrom(options);
  BuildContext context;
  context.config = &config;
  if (options_out != nullptr) *options_out = options;
  return Registry<Dataset>::Global().Create(spec, "data", context);
}

absl::StatusOr<at::Tensor> ImagesFromFlags(const Pipeline* pipeline) {
  if (absl::GetFlag(FLAGS_images).empty() == absl::GetFlag(FLAGS_split).empty()) {
    return absl::InvalidArgumentError("give one of --images and --split");
  }
  const std::string images = absl::GetFlag(FLAGS_images);
  if (absl::EndsWith(images, ".jsonl") || absl::EndsWith(images, ".json") ||
      absl::EndsWith(images, ".csv")) {
    return ImagesFromManifest(images, pipeline);
  }
  if (!images.empty()) return ReadTensor(images);
  ABSL_ASSIGN_OR_RETURN(SplitSlice slice, SplitFromFlags());
  return slice.images;
}

namespace {

// FILE.npy -> FILE + suffix.
std::string Beside(const std::string& samples_path, absl::string_view suffix) {
  const std::string stem = absl::EndsWith(samples_path, ".npy")
                               ? samples_path.substr(0, samples_path.size() - 4)
                               : samples_path;
  return absl::StrCat(stem, suffix);
}

}  // namespace

std::string LabelsPath(const std::string& samples_path) {
  return Beside(samples_path, "_labels.npy");
}
std::string PromptsPath(const std::string& samples_path) {
  return Beside(samples_path, "_prompts.txt");
}
absl::Status WritePromptsFile(const SamplerOptions& sampler, int64_t num, const std::string& out) {
  const std::string path = PromptsPath(out);
  if (sampler.prompts().empty()) {
    if (FileExists(path)) std::remove(path.c_str());
    return absl::OkStatus();
  }
  std::string lines;
  for (int64_t i = 0; i < num; ++i) {
    absl::StrAppend(&lines,
                    absl::StrReplaceAll(sampler.prompts(i % sampler.prompts_size()), {{"\n", " "}}),
                    "\n");
  }
  ABSL_RETURN_IF_ERROR(WriteFileAtomically(path, lines));
  std::cout << "wrote " << path << "\n";
  return absl::OkStatus();
}

std::string XHatPath(const std::string& samples_path) { return Beside(samples_path, "_x_hat.npy"); }
std::string OriginalsPath(const std::string& edited_path) {
  return Beside(edited_path, "_original.npy");
}

at::Tensor ExactSamples(const Pipeline& p, int64_t n, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return p.data->mixture()->Sample(n, gen);
}

absl::StatusOr<std::string> QualityReport(const Pipeline& p, const at::Tensor& samples,
                                          const std::string& name) {
  const GaussianMixture* mixture = p.data->mixture();
  if (mixture == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data '", p.config.data().name(), "' has no known distribution to evaluate against"));
  }
  if (samples.dim() != 2 || samples.size(1) != mixture->dim()) {
    return absl::InvalidArgumentError(absl::StrCat("samples must be [N, ", mixture->dim(), "]"));
  }
  const int64_t n = samples.size(0);
  const at::Tensor reference = ExactSamples(p, n, 1);
  const MixtureQuality exact = EvaluateAgainstMixture(ExactSamples(p, n, 2), *mixture, reference);
  const MixtureQuality q = EvaluateAgainstMixture(samples, *mixture, reference);
  auto row = [](const std::string& label, const MixtureQuality& m) {
    return absl::StrFormat("%-28s %13.4f %9.4f %13.4f %10.4f\n", label, m.max_mode_error(),
                           m.off_mode_fraction, m.mean_log_likelihood, m.sliced_w2);
  };
  return absl::StrCat(
      absl::StrFormat("quality against the true mixture (n = %d; sliced W2 to exact samples)\n", n),
      absl::StrFormat("%-28s %13s %9s %13s %10s\n", "", "max mode err", "off-mode",
                      "mean log-lik", "sliced W2"),
      row("exact samples (reference)", exact), row(name, q),
      "mode fractions: ", q.ToString().substr(16, q.ToString().find('|') - 16), "\n");
}

std::string TrainingSummaryLine(const std::string& what, const TrainingSummary& s,
                                const std::string& dir) {
  if (!s.wrote_checkpoint) return "";  // ranks > 0: rank 0 reports
  if (s.first_step == s.steps) {
    return absl::StrFormat("%s already trained (%d steps) in %s; nothing to do\n", what, s.steps,
                           CheckpointPath(dir));
  }
  return absl::StrFormat("trained %s steps %d..%d in %.1f s, loss %.4f -> %.4f; wrote %s\n", what,
                         s.first_step, s.steps, s.seconds, s.first_loss, s.final_loss,
                         CheckpointPath(dir));
}

absl::Status CheckOutputFolders(
    std::initializer_list<std::pair<const char*, std::string>> flag_and_path) {
  for (const auto& [flag, path] : flag_and_path) {
    if (path.empty()) continue;
    const size_t slash = path.rfind('/');
    const std::string folder = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    struct stat info;
    if (::stat(folder.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, "=", path, ": the folder ", folder, " does not exist"));
    }
    if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, "=", path, " is a folder, not a file"));
    }
    // Create and remove the temporary the atomic write will use: permissions, a read-only
    // or pseudo file system all show here, before any work is done.
    const std::string probe = absl::StrCat(path, ".tmp.", ::getpid());
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat(flag, "=", path, ": cannot write there: ", std::strerror(errno)));
    }
    ::close(fd);
    ::unlink(probe.c_str());
  }
  return absl::OkStatus();
}

}  // namespace diffuse
