#include "eval/prompt_adherence.h"

#include <algorithm>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/fashion_captions.h"
#include "models/prompts.h"

namespace diffuse {

absl::StatusOr<std::map<std::string, WordAdherence>> FashionPromptAdherence(
    const at::Tensor& images, const std::vector<std::string>& prompts,
    const at::Tensor& classified) {
  const int64_t n = images.size(0);
  if (static_cast<int64_t>(prompts.size()) != n || classified.size(0) != n) {
    return absl::InvalidArgumentError(absl::StrCat(
        n, " images, ", prompts.size(), " prompts and ", classified.size(0),
        " classified labels: want one of each per image"));
  }
  FashionCaptioner captioner;
  const std::vector<std::string> vocabulary = captioner.vocabulary();
  WordVocabulary words(vocabulary);
  const at::Tensor predicted = classified.to(at::kLong).contiguous();
  // The class each prompt asks for (-1: none), then each image's measured caption relative
  // to it.
  std::vector<int64_t> asked_class(n, -1);
  std::vector<std::vector<int64_t>> tokens(n);
  for (int64_t i = 0; i < n; ++i) {
    absl::StatusOr<std::vector<int64_t>> t = words.Tokenize(prompts[i]);
    if (!t.ok()) {
      return absl::Status(t.status().code(),
                          absl::StrCat("prompt ", i, " '", prompts[i], "': ", t.status().message()));
    }
    tokens[i] = *std::move(t);
    for (int64_t id : tokens[i]) {
      if (id < static_cast<int64_t>(kFashionClassWords.size())) asked_class[i] = id;
    }
  }
  at::Tensor reference = predicted.clone();
  for (int64_t i = 0; i < n; ++i) {
    if (asked_class[i] >= 0) reference[i] = asked_class[i];
  }
  const std::vector<std::vector<std::string>> measured = captioner.Caption(images, reference);
  std::map<std::string, WordAdherence> adherence;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t id : tokens[i]) {
      if (id < static_cast<int64_t>(kFashionClassWords.size())) {
        WordAdherence& a = adherence["class"];
        ++a.asked;
        a.held += predicted[i].item<int64_t>() == id;
        continue;
      }
      const std::string& word = vocabulary[id];
      WordAdherence& a = adherence[word];
      ++a.asked;
      a.held += std::find(measured[i].begin() + 1, measured[i].end(), word) != measured[i].end();
    }
  }
  return adherence;
}

std::string AdherenceReport(const std::map<std::string, WordAdherence>& adherence) {
  std::string out;
  auto line = [&](const std::string& word, const WordAdherence& a) {
    absl::StrAppendFormat(&out, "  %-10s %.3f (%d / %d)\n", word,
                          static_cast<double>(a.held) / std::max<int64_t>(a.asked, 1), a.held,
                          a.asked);
  };
  if (const auto it = adherence.find("class"); it != adherence.end()) line("class", it->second);
  for (const auto& [word, a] : adherence) {
    if (word != "class") line(word, a);
  }
  return out;
}

}  // namespace diffuse
