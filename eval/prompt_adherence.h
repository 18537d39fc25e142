// How often generated Fashion-MNIST images hold what their prompts ask for: the class word
// read by the evaluation classifier, each attribute word measured from the pixels by the
// captioner (relative to the prompt's class, or to the classified class when the prompt
// names none).
#ifndef DIFFUSE_EVAL_PROMPT_ADHERENCE_H_
#define DIFFUSE_EVAL_PROMPT_ADHERENCE_H_

#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace diffuse {

struct WordAdherence {
  int64_t held = 0;   // images whose measurement agrees with the word
  int64_t asked = 0;  // images whose prompt holds the word
};

// images [N, 1, 28, 28] in [-1, 1], prompts[i] the prompt of image i, classified [N] the
// evaluation classifier's class of each image. Keys: "class" (every class word together)
// and each attribute word. Unknown words are INVALID_ARGUMENT naming the prompt.
absl::StatusOr<std::map<std::string, WordAdherence>> FashionPromptAdherence(
    const at::Tensor& images, const std::vector<std::string>& prompts,
    const at::Tensor& classified);

// "  class     0.812 (203 / 250)" lines, "class" first.
std::string AdherenceReport(const std::map<std::string, WordAdherence>& adherence);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_PROMPT_ADHERENCE_H_
