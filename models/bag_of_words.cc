// Text encoder "bag_of_words": see bag_of_words.proto.
#include <memory>

#include <torch/enum.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "data/captioner.h"
#include "data/dataset.h"
#include "models/bag_of_words.pb.h"
#include "models/prompts.h"
#include "models/text_encoder.h"
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// Token 0 is the start token (every text has it, so the empty prompt has an embedding);
// word i of the vocabulary is token i + 1. Submodule names are checkpoint keys.
class BagOfWordsNetImpl : public torch::nn::Module {
 public:
  BagOfWordsNetImpl(int64_t tokens, int64_t hidden, int64_t out)
      : words_(register_module(
            "words", torch::nn::EmbeddingBag(
                         torch::nn::EmbeddingBagOptions(tokens, hidden).mode(torch::kMean)))),
        hidden_(register_module("hidden", torch::nn::Linear(hidden, hidden))),
        out_(register_module("out", torch::nn::Linear(hidden, out))) {}

  at::Tensor forward(const at::Tensor& flat, const at::Tensor& offsets) {
    const at::Tensor bag = words_(flat, offsets);
    const at::Tensor e = out_(torch::silu(hidden_(torch::silu(bag))));
    return e / e.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
  }

 private:
  torch::nn::EmbeddingBag words_;
  torch::nn::Linear hidden_, out_;
};
TORCH_MODULE(BagOfWordsNet);

class BagOfWords : public TextEncoder {
 public:
  BagOfWords(WordVocabulary vocabulary, BagOfWordsNet net, int64_t dim)
      : vocabulary_(std::move(vocabulary)), net_(std::move(net)), dim_(dim) {}

  int64_t embedding_dim() const override { return dim_; }
  absl::StatusOr<std::vector<int64_t>> Tokenize(absl::string_view text) const override {
    return vocabulary_.Tokenize(text);
  }
  at::Tensor Embed(const std::vector<std::vector<int64_t>>& tokens) override {
    if (tokens.empty()) {
      return torch::zeros({0, dim_}, net_->parameters().front().options());
    }
    std::vector<int64_t> flat, offsets;
    for (const std::vector<int64_t>& text : tokens) {
      offsets.push_back(static_cast<int64_t>(flat.size()));
      flat.push_back(0);
      for (int64_t id : text) flat.push_back(id + 1);
    }
    return net_(torch::tensor(flat, torch::kLong), torch::tensor(offsets, torch::kLong));
  }
  torch::nn::Module* module() override { return net_.get(); }

 private:
  WordVocabulary vocabulary_;
  BagOfWordsNet net_;
  int64_t dim_;
};

absl::StatusOr<std::unique_ptr<TextEncoder>> Make(const BagOfWordsOptions& o,
                                                  const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("embedding_dim", o.embedding_dim(), 1, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("hidden_dim", o.hidden_dim(), 1, 4096));
  const Captioner* captioner = context.data->captioner();
  if (captioner == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "takes its vocabulary from the data's captions; data '", context.config->data().name(),
        "' has none"));
  }
  WordVocabulary vocabulary(captioner->vocabulary());
  at::manual_seed(context.config->training().seed() + 2);  // not the other networks' draws
  BagOfWordsNet net(vocabulary.size() + 1, o.hidden_dim(), o.embedding_dim());
  return std::unique_ptr<TextEncoder>(
      new BagOfWords(std::move(vocabulary), std::move(net), o.embedding_dim()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TextEncoder, "bag_of_words", BagOfWordsOptions, Make);

}  // namespace diffuse
