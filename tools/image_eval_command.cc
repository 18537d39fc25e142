// `diffuse image-eval`: generated pictures scored by an image evaluator (train-evaluator)
// against the test split of --pipeline's image folder:
//   - the Fréchet distance of the evaluator's features to the test split, beside the floor
//     (as many training pictures as samples, against the same test split) and the distance
//     of those training pictures blurred (shrunk to --blur_size and back), so a reader sees
//     what the number means;
//   - prompt adherence, when the samples' prompts file (sample's FILE_prompts.txt) is there:
//     a prompt that is the caption of a picture of the folder asks for that picture's
//     attributes; per head, how often the evaluator reads the asked value on the samples and
//     on the real pictures of the same captions (the ratio is what the goal compares);
//   - per head with at most 6 values, the fraction of samples read as each value (what a
//     negative prompt moves).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/adaptive_avg_pool2d.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/bincount.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/randperm.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/upsample_bilinear2d.h>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "assembly/builder.h"
#include "assembly/trained_loader.h"
#include "data/image_manifest.h"
#include "eval/frechet_distance.h"
#include "eval/image_evaluator.h"
#include "models/text_image_model.h"
#include "models/trained_text_encoder.pb.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, evaluator, "", "image-eval: the evaluator checkpoint (train-evaluator's evaluator.pt).");
ABSL_DECLARE_FLAG(std::string, samples);
ABSL_FLAG(int, blur_size, 16, "image-eval: the blurred reference row shrinks pictures to this size and back (0: none).");

namespace diffuse {
namespace {

absl::StatusOr<FeatureStatistics> Statistics(ImageEvaluator& e, const at::Tensor& images) {
  ABSL_ASSIGN_OR_RETURN(EvaluatorOutputs out, Evaluate(e, images));
  return ComputeFeatureStatistics(out.features);
}

absl::StatusOr<double> Distance(ImageEvaluator& e, const at::Tensor& images,
                                const FeatureStatistics& reference) {
  ABSL_ASSIGN_OR_RETURN(FeatureStatistics s, Statistics(e, images));
  return FrechetDistance(s, reference);
}

std::string Key(const std::string& text) { return absl::StrJoin(CaptionWords(text), " "); }

// The rank (0 = first) of caption own[i] among `captions` by the text-image model's cosine
// with picture i, in batches.
absl::StatusOr<at::Tensor> CaptionRanks(TextImageModel& model, const at::Tensor& images,
                                        const std::vector<std::string>& captions,
                                        const std::vector<int64_t>& own) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> texts;
  for (size_t first = 0; first < captions.size(); first += 512) {
    std::vector<std::vector<int64_t>> tokens;
    for (size_t i = first; i < std::min(captions.size(), first + 512); ++i) {
      absl::StatusOr<std::vector<int64_t>> t = model.text_encoder().Tokenize(captions[i]);
      if (!t.ok()) return t.status();
      tokens.push_back(*std::move(t));
    }
    texts.push_back(model.text_encoder().Embed(tokens));
  }
  std::vector<at::Tensor> pictures;
  for (int64_t i = 0; i < images.size(0); i += 256) {
    pictures.push_back(model.EmbedImages(images.slice(0, i, i + 256), Time(0.0)));
  }
  const at::Tensor similarity = at::cat(pictures).matmul(at::cat(texts).t().to(at::kFloat));
  const at::Tensor mine = similarity.gather(1, at::tensor(own, at::kLong).view({-1, 1}));
  return similarity.gt(mine).sum(1);
}

std::string RankSummary(const at::Tensor& rank) {
  return absl::StrFormat("top-1 %.3f, top-5 %.3f, median rank %.0f",
                         rank.eq(0).to(at::kDouble).mean().item<double>(),
                         rank.lt(5).to(at::kDouble).mean().item<double>(),
                         rank.to(at::kDouble).median().item<double>() + 1);
}

absl::Status ImageEvalCommand() {
  const std::string samples_path = absl::GetFlag(FLAGS_samples);
  if (samples_path.empty() || absl::GetFlag(FLAGS_evaluator).empty()) {
    return absl::InvalidArgumentError("--samples (.npy) and --evaluator are required");
  }
  ABSL_ASSIGN_OR_RETURN(ImageEvaluator evaluator, LoadImageEvaluator(absl::GetFlag(FLAGS_evaluator)));
  ABSL_ASSIGN_OR_RETURN(const PipelineConfig config, LoadPipelineFile(absl::GetFlag(FLAGS_pipeline)));
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> test, ImageFolderSplit(config, "test", "--pipeline"));
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> train, ImageFolderSplit(config, "train", "--pipeline"));
  ABSL_ASSIGN_OR_RETURN(at::Tensor samples, ReadTensor(samples_path));
  samples = samples.to(at::kFloat);
  if (!at::isfinite(samples).all().item<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat("--samples=", samples_path, ": holds NaN or infinite values"));
  }
  const int64_t n = samples.size(0);
  if (n < 2) return absl::InvalidArgumentError(absl::StrCat("--samples=", samples_path, ": needs 2 or more pictures"));
  ABSL_ASSIGN_OR_RETURN(EvaluatorOutputs sampled, Evaluate(evaluator, samples));
  ABSL_ASSIGN_OR_RETURN(const FeatureStatistics sample_stats,
                        ComputeFeatureStatistics(sampled.features));

  const DataBatch held_out = test->Examples(0, test->num_examples());
  ABSL_ASSIGN_OR_RETURN(const FeatureStatistics reference, Statistics(evaluator, held_out.x));
  ABSL_ASSIGN_OR_RETURN(const double fd, FrechetDistance(sample_stats, reference));
  // As many training pictures as samples (a fixed random choice), against the same split.
  at::Generator gen = at::detail::createCPUGenerator(0);
  const int64_t m = std::min(n, train->num_examples());
  const at::Tensor pick = at::randperm(train->num_examples(), gen, at::kLong).slice(0, 0, m);
  const at::Tensor real = train->Examples(0, train->num_examples()).x.index_select(0, pick);
  ABSL_ASSIGN_OR_RETURN(const double floor, Distance(evaluator, real, reference));
  std::cout << absl::StrFormat(
      "image-eval: %d samples of %s against the test split (%d pictures); evaluator %s\n"
      "  Frechet distance (evaluator features): samples %.2f | floor (%d training pictures) %.2f",
      n, samples_path, held_out.x.size(0), absl::GetFlag(FLAGS_evaluator), fd, m, floor);
  if (const int blur = absl::GetFlag(FLAGS_blur_size); blur > 0) {
    const at::Tensor blurred = at::upsample_bilinear2d(
        at::adaptive_avg_pool2d(real, {blur, blur}), {real.size(2), real.size(3)},
        /*align_corners=*/false);
    ABSL_ASSIGN_OR_RETURN(const double blurred_fd, Distance(evaluator, blurred, reference));
    std::cout << absl::StrFormat(" | those blurred to %dx%d and back %.2f", blur, blur, blurred_fd);
  }
  std::cout << absl::StrFormat(" | samples / floor %.2f\n", fd / std::max(floor, 1e-12));

  if (const std::string prompts_path = PromptsPath(samples_path); FileExists(prompts_path)) {
    std::ifstream in(prompts_path);
    std::vector<std::string> prompts;
    for (std::string line; std::getline(in, line);) prompts.push_back(line);
    if (static_cast<int64_t>(prompts.size()) != n) {
      return absl::InvalidArgumentError(absl::StrCat(
          prompts_path, " has ", prompts.size(), " lines for ", n, " samples"));
    }
    // Every picture of the folder by caption (the first of equal captions).
    ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> all, ImageFolderSplit(config, "all", "--pipeline"));
    const DataBatch everything = all->Examples(0, all->num_examples());
    if (everything.captions.empty() || !everything.attributes.defined()) {
      return absl::InvalidArgumentError(
          "--pipeline: prompt adherence needs the data's caption_column and attribute_columns");
    }
    std::map<std::string, int64_t> by_caption;
    for (size_t i = 0; i < everything.captions.size(); ++i) {
      by_caption.emplace(absl::StrJoin(everything.captions[i], " "), static_cast<int64_t>(i));
    }
    std::vector<int64_t> sample_rows, real_rows;
    for (int64_t i = 0; i < n; ++i) {
      if (auto it = by_caption.find(Key(prompts[i])); it != by_caption.end()) {
        sample_rows.push_back(i);
        real_rows.push_back(it->second);
      }
    }
    std::cout << absl::StrFormat(
        "  prompt adherence: %d of %d prompts are captions of the folder; per head, the asked "
        "value read on samples | on the real pictures of those captions | ratio\n",
        sample_rows.size(), n);
    if (!sample_rows.empty()) {
      const at::Tensor s_index = at::tensor(sample_rows, at::kLong);
      const at::Tensor r_index = at::tensor(real_rows, at::kLong);
      const at::Tensor asked = everything.attributes.index_select(0, r_index);
      ABSL_ASSIGN_OR_RETURN(EvaluatorOutputs real_out,
                            Evaluate(evaluator, everything.x.index_select(0, r_index)));
      const std::vector<DataAttribute> attributes = all->attributes();
      for (size_t h = 0; h < evaluator.heads.size(); ++h) {
        const auto a = std::find_if(attributes.begin(), attributes.end(), [&](const DataAttribute& d) {
          return d.name == evaluator.heads[h].name && d.values == evaluator.heads[h].values;
        });
        if (a == attributes.end()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "--evaluator: its head '", evaluator.heads[h].name,
              "' is not an attribute column of the data with the same values"));
        }
        const at::Tensor want = asked.select(1, a - attributes.begin());
        const at::Tensor known = want.ge(0);
        const double count = known.sum().item<double>();
        const double on_samples =
            sampled.logits[h].index_select(0, s_index).argmax(1).eq(want).logical_and(known).sum().item<double>() / std::max(count, 1.0);
        const double on_real =
            real_out.logits[h].argmax(1).eq(want).logical_and(known).sum().item<double>() / std::max(count, 1.0);
        std::cout << absl::StrFormat("    %-12s %.3f | %.3f | %.2f  (%d asked)\n",
                                     evaluator.heads[h].name, on_samples, on_real,
                                     on_samples / std::max(on_real, 1e-12), static_cast<int64_t>(count));
      }
      // The text-image model behind the description's text encoder: the rank of each prompt
      // among every distinct caption of the folder, for the sample and for the real picture.
      TrainedTextEncoderOptions text;
      if (config.text_encoder().name() == "trained_text_encoder" &&
          config.text_encoder().options().UnpackTo(&text)) {
        BuildContext context;
        context.trained = &PipelineLoader();
        ABSL_ASSIGN_OR_RETURN(std::unique_ptr<TextImageModel> model,
                              LoadTextImageModel(text.checkpoint(), context, /*images_here=*/false));
        std::vector<std::string> distinct;
        for (const auto& [caption, i] : by_caption) distinct.push_back(caption);
        std::map<std::string, int64_t> position;
        for (size_t i = 0; i < distinct.size(); ++i) position[distinct[i]] = static_cast<int64_t>(i);
        std::vector<int64_t> own;
        for (int64_t i : sample_rows) own.push_back(position[Key(prompts[i])]);
        ABSL_ASSIGN_OR_RETURN(const at::Tensor sample_rank,
                              CaptionRanks(*model, samples.index_select(0, s_index), distinct, own));
        ABSL_ASSIGN_OR_RETURN(const at::Tensor real_rank,
                              CaptionRanks(*model, everything.x.index_select(0, r_index), distinct, own));
        std::cout << absl::StrFormat(
            "  the prompt among the folder's %d captions by the text-image model: samples %s | "
            "real pictures %s\n",
            distinct.size(), RankSummary(sample_rank), RankSummary(real_rank));
      }
      // Paired targets: the real picture of each prompt (an edit toward "..., twitter style"
      // has the twitter rendering of the same emoji), against the edit's input when the
      // samples come from img2img / inpaint (FILE_original.npy beside them).
      auto rmse = [](const at::Tensor& a, const at::Tensor& b) {
        return (a - b).pow(2).flatten(1).mean(1).sqrt();  // per picture, in [-1, 1] units
      };
      const at::Tensor chosen = samples.index_select(0, s_index);
      const at::Tensor targets = everything.x.index_select(0, r_index);
      const at::Tensor to_target = rmse(chosen, targets);
      std::cout << absl::StrFormat("  distance (pixel RMSE) to the prompt's real picture: %.4f",
                                   to_target.mean().item<double>());
      if (const std::string originals_path = OriginalsPath(samples_path); FileExists(originals_path)) {
        ABSL_ASSIGN_OR_RETURN(at::Tensor originals, ReadTensor(originals_path));
        if (originals.sizes() != samples.sizes()) {
          return absl::InvalidArgumentError(absl::StrCat(originals_path, " does not match --samples in shape"));
        }
        originals = originals.to(at::kFloat).index_select(0, s_index);
        const at::Tensor to_original = rmse(chosen, originals);
        std::cout << absl::StrFormat(
            " | to the input %.4f | input to that picture %.4f | closer to the picture than to "
            "the input %.3f",
            to_original.mean().item<double>(), rmse(originals, targets).mean().item<double>(),
            to_target.lt(to_original).to(at::kDouble).mean().item<double>());
      }
      std::cout << "\n";
    }
  }
  for (size_t h = 0; h < evaluator.heads.size(); ++h) {
    const DataAttribute& head = evaluator.heads[h];
    if (head.values.size() > 6) continue;
    const at::Tensor read = at::bincount(sampled.logits[h].argmax(1), {}, head.values.size());
    std::vector<std::string> parts;
    for (size_t v = 0; v < head.values.size(); ++v) {
      parts.push_back(absl::StrFormat("%s %.3f", head.values[v], read[v].item<double>() / n));
    }
    std::cout << "  samples read as " << head.name << ": " << absl::StrJoin(parts, ", ") << "\n";
  }
  return absl::OkStatus();
}

}  // namespace

DIFFUSE_REGISTER_VERB("image-eval", ImageEvalCommand, /*trains=*/false);

}  // namespace diffuse
