// Text encoder "transformer_text": see transformer_text.proto.
#include <algorithm>
#include <memory>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "absl/strings/str_cat.h"
#include "data/captioner.h"
#include "data/dataset.h"
#include "models/subword_tokenizer.h"
#include "models/text_encoder.h"
#include "models/transformer_text.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// One pre-norm block: x + Attention(LN(x)), then x + MLP(LN(x)). Names are checkpoint keys.
class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(int64_t width, int64_t heads)
      : norm1_(register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
        attention_(register_module(
            "attention", torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(width, heads)))),
        norm2_(register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})))),
        up_(register_module("up", torch::nn::Linear(width, 4 * width))),
        down_(register_module("down", torch::nn::Linear(4 * width, width))) {}

  // x [L, B, W]; ignore [B, L], true at padding.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& ignore) {
    const at::Tensor h = norm1_(x);
    const at::Tensor attended = std::get<0>(attention_(h, h, h, ignore, /*need_weights=*/false));
    const at::Tensor y = x + attended;
    return y + down_(at::gelu(up_(norm2_(y))));
  }

 private:
  torch::nn::LayerNorm norm1_;
  torch::nn::MultiheadAttention attention_;
  torch::nn::LayerNorm norm2_;
  torch::nn::Linear up_, down_;
};
TORCH_MODULE(Block);

class TransformerTextNetImpl : public torch::nn::Module {
 public:
  TransformerTextNetImpl(int64_t tokens, int64_t max_tokens, const TransformerTextOptions& o)
      : tokens_(register_module("tokens", torch::nn::Embedding(tokens, o.width()))),
        positions_(register_module("positions", torch::nn::Embedding(max_tokens, o.width()))),
        blocks_(register_module("blocks", torch::nn::ModuleList())),
        norm_(register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.width()})))),
        out_(register_module("out", torch::nn::Linear(o.width(), o.embedding_dim()))) {
    for (int i = 0; i < o.layers(); ++i) blocks_->push_back(Block(o.width(), o.heads()));
  }

  // ids [B, L] (padding anywhere after each text's end-of-text token), keep [B, L] (true at
  // real tokens) -> the states [B, L, W] after the final LayerNorm.
  at::Tensor States(const at::Tensor& ids, const at::Tensor& keep) {
    const at::Tensor position = at::arange(ids.size(1), at::kLong);
    at::Tensor x = (tokens_(ids) + positions_(position)).transpose(0, 1);  // [L, B, W]
    const at::Tensor ignore = keep.logical_not();
    for (const auto& block : *blocks_) x = block->as<Block>()->forward(x, ignore);
    return norm_(x.transpose(0, 1));
  }
  at::Tensor Project(const at::Tensor& pooled) {
    const at::Tensor e = out_(pooled);
    return e / e.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
  }

 private:
  torch::nn::Embedding tokens_, positions_;
  torch::nn::ModuleList blocks_;
  torch::nn::LayerNorm norm_;
  torch::nn::Linear out_;
};
TORCH_MODULE(TransformerTextNet);

class TransformerText : public TextEncoder {
 public:
  TransformerText(SubwordTokenizer tokenizer, TransformerTextNet net, int64_t dim,
                  int64_t max_tokens, int64_t width)
      : tokenizer_(std::move(tokenizer)), net_(std::move(net)), dim_(dim),
        max_tokens_(max_tokens), width_(width) {}

  int64_t embedding_dim() const override { return dim_; }
  absl::StatusOr<std::vector<int64_t>> Tokenize(absl::string_view text) const override {
    std::vector<int64_t> ids = tokenizer_.Encode(text);
    if (static_cast<int64_t>(ids.size()) > max_tokens_ - 1) ids.resize(max_tokens_ - 1);
    return ids;
  }
  at::Tensor Embed(const std::vector<std::vector<int64_t>>& tokens) override {
    if (tokens.empty()) return at::zeros({0, dim_}, net_->parameters().front().options());
    const Batch b = Pad(tokens);
    const at::Tensor states = net_->States(b.ids, b.keep);
    // The end-of-text token's state: position = the text's length.
    const at::Tensor pooled =
        states.gather(1, b.lengths.view({-1, 1, 1}).expand({-1, 1, states.size(2)})).squeeze(1);
    return net_->Project(pooled);
  }
  TokenStates EmbedTokens(const std::vector<std::vector<int64_t>>& tokens) override {
    const Batch b = Pad(tokens);
    return {net_->States(b.ids, b.keep), b.keep};
  }
  int64_t token_state_dim() const override { return width_; }
  torch::nn::Module* module() override { return net_.get(); }

 private:
  struct Batch {
    at::Tensor ids, keep, lengths;
  };
  // Piece i is token i; the end-of-text token is tokenizer size; padding repeats it, masked.
  Batch Pad(const std::vector<std::vector<int64_t>>& tokens) const {
    const int64_t end = tokenizer_.size();
    int64_t longest = 0;
    for (const auto& t : tokens) longest = std::max<int64_t>(longest, t.size());
    const int64_t length = std::min(longest, max_tokens_ - 1) + 1;
    std::vector<int64_t> ids, lengths;
    std::vector<uint8_t> keep;
    for (const auto& t : tokens) {
      const int64_t n = std::min<int64_t>(t.size(), max_tokens_ - 1);
      for (int64_t i = 0; i < length; ++i) {
        ids.push_back(i < n ? t[i] : end);
        keep.push_back(i <= n);
      }
      lengths.push_back(n);
    }
    const int64_t b = static_cast<int64_t>(tokens.size());
    return {at::tensor(ids, at::kLong).view({b, length}),
            at::tensor(keep, at::kByte).view({b, length}).to(at::kBool),
            at::tensor(lengths, at::kLong)};
  }

  SubwordTokenizer tokenizer_;
  TransformerTextNet net_;
  int64_t dim_, max_tokens_, width_;
};

absl::StatusOr<std::unique_ptr<TextEncoder>> Make(const TransformerTextOptions& o,
                                                  const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("embedding_dim", o.embedding_dim(), 1, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("width", o.width(), 8, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("layers", o.layers(), 1, 48));
  ABSL_RETURN_IF_ERROR(CheckInRange("heads", o.heads(), 1, 64));
  ABSL_RETURN_IF_ERROR(CheckInRange("max_tokens", o.max_tokens(), 2, 1024));
  ABSL_RETURN_IF_ERROR(CheckInRange("vocabulary_size", o.vocabulary_size(), 2, 100000));
  if (o.width() % o.heads() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option width = ", o.width(), " must be a multiple of heads = ", o.heads()));
  }
  const Captioner* captioner = context.data->captioner();
  if (captioner == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "learns its subword pieces from the data's captions; data '",
        context.config->data().name(), "' has none"));
  }
  SubwordTokenizer tokenizer(captioner->vocabulary(), o.vocabulary_size());
  at::manual_seed(context.config->training().seed() + 2);  // not the other networks' draws
  TransformerTextNet net(tokenizer.size() + 1, o.max_tokens(), o);
  return std::unique_ptr<TextEncoder>(new TransformerText(
      std::move(tokenizer), std::move(net), o.embedding_dim(), o.max_tokens(), o.width()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(TextEncoder, "transformer_text", TransformerTextOptions, Make);

}  // namespace diffuse
