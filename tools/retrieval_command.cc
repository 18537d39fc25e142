// `diffuse retrieval`: how well a text-image model trained on an image folder matches
// held-out pictures with their captions (CLIP's zero-shot evaluation, Radford et al. 2021).
// For every picture of the split, the rank of its own caption among all distinct captions
// of the split by cosine similarity (top-1, top-5, median rank), and the class whose prompt
// (--class_prompt with the class name for {}) is nearest (accuracy). Words a text encoder
// cannot read (bag_of_words knows only the training captions' words) are dropped and
// counted.
#include <algorithm>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/tensor.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "data/dataset.h"
#include "data/image_folder.pb.h"
#include "models/encoder.h"
#include "models/text_encoder.h"
#include "pipeline/registry.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, class_prompt, "a {} emoji",
          "retrieval: the prompt of each class, {} replaced by its name (lower case, & as and).");

namespace diffuse {
namespace {

// The tokens of `text`, dropping the words the encoder refuses (counted in *dropped).
std::vector<int64_t> ReadableTokens(const TextEncoder& encoder, const std::string& text,
                                    int64_t* words, int64_t* dropped) {
  std::vector<int64_t> tokens;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    ++*words;
    absl::StatusOr<std::vector<int64_t>> t = encoder.Tokenize(word);
    if (!t.ok()) {
      ++*dropped;
      continue;
    }
    tokens.insert(tokens.end(), t->begin(), t->end());
  }
  return tokens;
}

absl::StatusOr<at::Tensor> EmbedTexts(TextEncoder& encoder, const std::vector<std::string>& texts,
                                      int64_t* words, int64_t* dropped) {
  std::vector<at::Tensor> parts;
  for (size_t first = 0; first < texts.size(); first += 512) {
    std::vector<std::vector<int64_t>> tokens;
    for (size_t i = first; i < std::min(texts.size(), first + 512); ++i) {
      // Subword encoders read the whole text at once (word order matters to them).
      absl::StatusOr<std::vector<int64_t>> whole = encoder.Tokenize(texts[i]);
      if (whole.ok()) {
        const std::vector<absl::string_view> split = absl::StrSplit(texts[i], ' ', absl::SkipEmpty());
        *words += static_cast<int64_t>(split.size());
        tokens.push_back(*whole);
      } else {
        tokens.push_back(ReadableTokens(encoder, texts[i], words, dropped));
      }
    }
    parts.push_back(encoder.Embed(tokens));
  }
  return at::cat(parts);
}

absl::Status RetrievalCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline({DescriptionKind::kTextImage}));
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  const std::string split = absl::GetFlag(FLAGS_split).empty() ? "test" : absl::GetFlag(FLAGS_split);
  ImageFolderOptions options;
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Dataset> data,
                        ImageFolderSplit(p->config, split, "--pipeline", &options));
  const int64_t n = data->num_examples();
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> image_parts, label_parts;
  std::vector<std::string> captions;  // each picture's
  for (int64_t first = 0; first < n; first += 256) {
    const DataBatch b = data->Examples(first, std::min<int64_t>(256, n - first));
    const at::Tensor e = p->encoder->Encode(b.x, Time(0.0)).mean;
    image_parts.push_back(e / e.norm(2, 1, true).clamp_min(1e-12));
    if (b.label.defined()) label_parts.push_back(b.label);
    for (const auto& words : b.captions) captions.push_back(absl::StrJoin(words, " "));
  }
  const at::Tensor images = at::cat(image_parts);
  std::vector<std::string> distinct = captions;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < distinct.size(); ++i) index[distinct[i]] = static_cast<int64_t>(i);
  int64_t words = 0, dropped = 0;
  ABSL_ASSIGN_OR_RETURN(at::Tensor texts, EmbedTexts(*p->text_encoder, distinct, &words, &dropped));
  const at::Tensor similarity = images.matmul(texts.t().to(images.scalar_type()));  // [N, U]
  std::vector<int64_t> own;
  for (const std::string& c : captions) own.push_back(index[c]);
  const at::Tensor own_similarity =
      similarity.gather(1, at::tensor(own, at::kLong).view({-1, 1}));
  const at::Tensor rank = similarity.gt(own_similarity).sum(1);  // 0 = the best match
  const double top1 = rank.eq(0).to(at::kDouble).mean().item<double>();
  const double top5 = rank.lt(5).to(at::kDouble).mean().item<double>();
  const double median = rank.to(at::kDouble).median().item<double>() + 1;
  std::cout << absl::StrFormat(
      "retrieval on the %s split: %d pictures, %d distinct captions (%d words, %d unreadable "
      "and dropped)\n  caption top-1 %.3f (chance %.4f), top-5 %.3f (chance %.4f), median "
      "rank %.0f\n",
      split, n, distinct.size(), words, dropped, top1, 1.0 / distinct.size(), top5,
      std::min(1.0, 5.0 / distinct.size()), median);
  if (options.classes_size() > 0 && !label_parts.empty()) {
    std::vector<std::string> prompts;
    for (const std::string& name : options.classes()) {
      prompts.push_back(absl::StrReplaceAll(
          absl::GetFlag(FLAGS_class_prompt),
          {{"{}", absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"&", "and"}})}}));
    }
    int64_t prompt_words = 0, prompt_dropped = 0;
    ABSL_ASSIGN_OR_RETURN(at::Tensor classes,
                          EmbedTexts(*p->text_encoder, prompts, &prompt_words, &prompt_dropped));
    const at::Tensor labels = at::cat(label_parts);
    const at::Tensor predicted = images.matmul(classes.t().to(images.scalar_type())).argmax(1);
    const double accuracy = predicted.eq(labels).to(at::kDouble).mean().item<double>();
    const at::Tensor counts = labels.bincount({}, options.classes_size());
    const double majority = counts.max().item<double>() / n;
    std::cout << absl::StrFormat(
        "  class accuracy from \"%s\" prompts %.3f (majority class %.3f; %d of %d prompt "
        "words unreadable)\n",
        absl::GetFlag(FLAGS_class_prompt), accuracy, majority, prompt_dropped, prompt_words);
  }
  return absl::OkStatus();
}

}  // namespace

DIFFUSE_REGISTER_VERB("retrieval", RetrievalCommand, /*trains=*/false);

}  // namespace diffuse
