#include "assembly/builder.h"

#include <map>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "assembly/trained_loader.h"
#include "data/captioner.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/message.h"
#include "google/protobuf/text_format.h"
#include "models/module_ops.h"
#include "models/noisy_classifier.h"
#include "models/prompts.h"
#include "models/trainable_model.h"
#include "pipeline/registry.h"
#include "reverse/time_grid.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

absl::Status Prefixed(absl::string_view prefix, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(prefix, ": ", status.message()));
}

absl::Status RequireSection(const PipelineConfig& config, const char* field, bool present) {
  if (present) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("pipeline has no '", field, "' section (required)"));
}

// The first of `sections` (name, present) that is present, or nullptr: what a description
// kind without such sections refuses.
const char* FirstPresent(std::initializer_list<std::pair<const char*, bool>> sections) {
  for (const auto& [section, present] : sections) {
    if (present) return section;
  }
  return nullptr;
}

// Token data needs a token forward process with the same K.
absl::Status CheckDataKind(const Pipeline& p) {
  const PipelineConfig& c = p.config;
  const int64_t data_k = p.data->num_token_classes();
  const bool forward_tokens = p.forward->data_kind() == DataKind::kTokens;
  if ((data_k > 0) != forward_tokens) {
    return absl::FailedPreconditionError(absl::StrCat(
        "forward '", c.forward().name(), "' works on ", forward_tokens ? "tokens" : "real values",
        " but data '", c.data().name(), "' is ", data_k > 0 ? "tokens" : "real-valued"));
  }
  if (!forward_tokens) return absl::OkStatus();
  const int64_t forward_k = p.forward->categorical() != nullptr ? p.forward->categorical()->num_classes()
                            : p.forward->deletion() != nullptr  ? p.forward->deletion()->num_classes()
                                                                : data_k;
  if (forward_k != data_k) {
    return absl::FailedPreconditionError(absl::StrCat(
        "forward '", c.forward().name(), "' has num_classes = ", forward_k, " but data '",
        c.data().name(), "' has ", data_k, " token classes"));
  }
  return absl::OkStatus();
}

// The forward process, checked against the data. `kind` names a description kind that
// supplies no x_hat (a classifier or text-image description), which then refuses an offset
// process (forward "shifted") in an error starting with `owner`; empty for a diffusion
// description.
absl::Status BuildForward(Pipeline& p, BuildContext& context, const std::string& owner = "",
                          const std::string& kind = "") {
  const PipelineConfig& c = p.config;
  ABSL_ASSIGN_OR_RETURN(p.forward,
                        Registry<ForwardProcess>::Global().Create(c.forward(), "forward", context));
  context.forward = p.forward.get();
  ABSL_RETURN_IF_ERROR(Prefixed(
      absl::StrCat("forward '", c.forward().name(), "' on data '", c.data().name(), "'"),
      p.forward->CheckSampleShape(p.data->sample_shape())));
  ABSL_RETURN_IF_ERROR(CheckDataKind(p));
  if (!kind.empty() && p.forward->HasOffset()) {
    return absl::InvalidArgumentError(absl::StrCat(
        owner, ": forward '", c.forward().name(), "' offsets x_t by an x_hat that a ", kind,
        " description does not supply"));
  }
  return absl::OkStatus();
}

// Token data needs a predictor of logits.
absl::Status CheckPredictorKind(const Pipeline& p) {
  const PipelineConfig& c = p.config;
  if (p.forward->data_kind() == DataKind::kTokens && !p.predictor->predicts_logits()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", c.predictor().name(), "' does not predict logits, which token data needs"));
  }
  return absl::OkStatus();
}

absl::Status CheckSampler(const Pipeline& p) {
  const SamplerOptions& s = p.config.sampler();
  if (s.batch_size() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler.batch_size = ", s.batch_size(), " must be >= 1"));
  }
  if (!(s.clip_x0() >= 0 && s.clip_x0() <= 1e6)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler.clip_x0 = ", s.clip_x0(), " is out of range [0, 1e6]"));
  }
  if (s.clip_x0() > 0 && p.forward->data_kind() == DataKind::kTokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.clip_x0 clamps real values; data '", p.config.data().name(), "' is tokens"));
  }
  if (!(s.dynamic_threshold() >= 0 && s.dynamic_threshold() < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.dynamic_threshold = ", s.dynamic_threshold(), " is out of range [0, 1)"));
  }
  if (s.dynamic_threshold() > 0 && s.clip_x0() == 0) {
    return absl::InvalidArgumentError(
        "sampler.dynamic_threshold needs sampler.clip_x0 > 0 (the data bound)");
  }
  if (!(s.end_time() >= 0 && s.end_time() < p.times.back())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.end_time = ", s.end_time(), " must be in [0, ", p.times.back(),
        ") (the grid's last time)"));
  }
  const bool float64 =
      s.dtype() == FLOAT64 || p.config.training().dtype() == FLOAT64;
  if (float64 && p.forward->data_kind() == DataKind::kTokens) {
    return absl::InvalidArgumentError(absl::StrCat(
        s.dtype() == FLOAT64 ? "sampler" : "training", ".dtype FLOAT64 applies to real-valued "
        "data; data '", p.config.data().name(), "' is tokens"));
  }
  const ConditionSupport support = p.label_support();
  bool classifier_free = false;
  for (const ComponentSpec& g : p.config.guidance()) classifier_free |= g.name() == "classifier_free";
  if (s.has_negative_prompt() && !support.prompts && !(p.text_conditioned() && classifier_free)) {
    return absl::InvalidArgumentError(
        "sampler.negative_prompt: nothing in this pipeline reads it (guidance \"clip\", or "
        "\"classifier_free\" on a text-conditioned predictor)");
  }
  if (s.prompts_size() > 0 && !support.prompts && !p.text_conditioned()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.prompts: nothing in this pipeline reads prompts (a text_encoder section conditions the "
        "predictor on them; guidance \"clip\" steers toward them)"));
  }
  for (int i = 0; i < s.labels_size(); ++i) {
    const int label = s.labels(i);
    if (label == Condition::kNullLabel ? !support.null_label
                                       : (label < 0 || label >= support.num_classes)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sampler.labels[", i, "] = ", label, ": predictor '", p.config.predictor().name(),
          "' and guidance accept classes [0, ", support.num_classes, ")",
          support.null_label ? " and -1 (null)" : ""));
    }
  }
  return absl::OkStatus();
}

// The encoder (optional) and the module training sees.
absl::Status BuildEncoder(Pipeline& p, const BuildContext& context) {
  TrainableModel* model = p.predictor->trainable();
  const int64_t latent_dim = p.predictor->conditions().latent_dim;
  if (!p.config.has_encoder()) {
    if (latent_dim > 0 && !p.text_conditioned()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "predictor '", p.config.predictor().name(), "' is conditioned on a latent of width ",
          latent_dim, "; add an encoder section that produces it"));
    }
    if (model != nullptr) p.trained_module_ = Unowned(model->module());
    return absl::OkStatus();
  }
  ABSL_ASSIGN_OR_RETURN(p.encoder,
                        Registry<Encoder>::Global().Create(p.config.encoder(), "encoder", context));
  const std::string name = absl::StrCat("encoder '", p.config.encoder().name(), "'");
  if (model == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": predictor '", p.config.predictor().name(),
        "' has no network to condition on z and train jointly"));
  }
  if (latent_dim != p.encoder->latent_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " produces z of width ", p.encoder->latent_dim(), " but predictor '",
        p.config.predictor().name(), "' takes latent_dim = ", latent_dim));
  }
  if (p.prior->latent_per_step() && !p.encoder->takes_time()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prior '", p.config.prior().name(), "': option latent_per_step draws a z_t per time "
        "(LRDM), but ", name, " takes no time input (set its time_input)"));
  }
  // The pipeline owns both modules and outlives the group.
  p.trained_module_ = GroupModules("EncoderAndPredictor", {{"predictor", &model->module()},
                                                           {"encoder", &p.encoder->module()}});
  return absl::OkStatus();
}

// An autoencoder: data, a (Gaussian) encoder and a decoder of the same width, and
// optionally a prior that models z (latent diffusion: a nested diffusion model of the
// codes, trained after the autoencoder); nothing of a diffusion model in pixel space.
absl::Status BuildAutoencoder(Pipeline& p, BuildContext& context) {
  const PipelineConfig& c = p.config;
  const std::string decoder = absl::StrCat("decoder '", c.decoder().name(), "'");
  if (const char* section = FirstPresent(
          {{"forward", c.has_forward()}, {"predictor", c.has_predictor()},
           {"reverse", c.has_reverse()}, {"guidance", c.guidance_size() > 0},
           {"classifier", c.has_classifier()}, {"text_encoder", c.has_text_encoder()},
           {"edit", c.has_edit()}})) {
    return absl::InvalidArgumentError(absl::StrCat(
        decoder, ": a description with a decoder is an autoencoder and has no '", section,
        "' section (train the VAE in a description of its own; diffusion pipelines use "
        "it through prior \"diffused_estimate\"; a diffusion model of its codes is its "
        "prior, e.g. \"latent_ddim\")"));
  }
  if (!c.has_encoder()) {
    return absl::InvalidArgumentError(
        absl::StrCat(decoder, ": an autoencoder needs an encoder section (q(z | x0))"));
  }
  if (c.sampler().labels_size() > 0) {
    return absl::InvalidArgumentError("sampler.labels: an autoencoder takes no class labels");
  }
  if (c.sampler().prompts_size() > 0 || c.sampler().has_negative_prompt()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampler.", c.sampler().prompts_size() > 0 ? "prompts" : "negative_prompt",
        ": an autoencoder takes no prompts"));
  }
  if (c.sampler().batch_size() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampler.batch_size = ", c.sampler().batch_size(), " must be >= 1"));
  }
  ABSL_ASSIGN_OR_RETURN(p.encoder, Registry<Encoder>::Global().Create(c.encoder(), "encoder", context));
  ABSL_ASSIGN_OR_RETURN(p.decoder, Registry<Decoder>::Global().Create(c.decoder(), "decoder", context));
  if (p.decoder->latent_shape() != p.encoder->latent_shape()) {
    // "width 6", or "shape [4, 7, 7]" for a spatial code.
    const auto shape = [](const std::vector<int64_t>& s) {
      return s.size() == 1 ? absl::StrCat("width ", s[0])
                           : absl::StrCat("shape [", absl::StrJoin(s, ", "), "]");
    };
    const bool spatial = p.decoder->latent_shape().size() > 1 || p.encoder->latent_shape().size() > 1;
    return absl::InvalidArgumentError(absl::StrCat(
        decoder, " reads z of ", shape(p.decoder->latent_shape()), " but encoder '",
        c.encoder().name(), "' produces z of ", shape(p.encoder->latent_shape()),
        spatial ? " (a spatial code: give both the same latent_channels and channel_mult, "
                  "no latent_dim)"
                : ""));
  }
  if (c.has_prior()) {
    context.encoder = p.encoder.get();
    ABSL_ASSIGN_OR_RETURN(p.prior, Registry<LatentPrior>::Global().Create(c.prior(), "prior", context));
    if (p.prior->latent_dim() != p.encoder->latent_dim() || p.prior->latent_per_step()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prior '", c.prior().name(), "': an autoencoder's prior is a model of its z (width ",
          p.encoder->latent_dim(), ", one per image, e.g. \"latent_ddim\"); this one ",
          p.prior->latent_per_step()
              ? "draws a z_t per diffusion step"
          : p.prior->latent_dim() == 0
              ? std::string("supplies no z")
              : absl::StrCat("supplies z of width ", p.prior->latent_dim())));
    }
  }
  if (!p.encoder->gaussian() && !c.training().has_info_diffusion()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "encoder '", c.encoder().name(), "' is deterministic: an autoencoder samples by decoding "
        "z ~ N(0, I), to which only a Gaussian encoder (gaussian: true, with "
        "training.latent_kl_weight) or training.info_diffusion ties its codes"));
  }
  p.trained_module_ = GroupModules("Autoencoder", {{"encoder", &p.encoder->module()},
                                                   {"decoder", &p.decoder->module()}});
  return absl::OkStatus();
}

// A classifier description: labelled data, a forward process and the noisy classifier
// that `train` fits on its x_t.
absl::Status BuildClassifierDescription(Pipeline& p, BuildContext& context) {
  const PipelineConfig& c = p.config;
  const std::string classifier = absl::StrCat("classifier '", c.classifier().name(), "'");
  if (const char* section = FirstPresent(
          {{"predictor", c.has_predictor()}, {"prior", c.has_prior()},
           {"reverse", c.has_reverse()}, {"guidance", c.guidance_size() > 0},
           {"encoder", c.has_encoder()}, {"decoder", c.has_decoder()},
           {"text_encoder", c.has_text_encoder()}, {"edit", c.has_edit()}})) {
    return absl::InvalidArgumentError(absl::StrCat(
        classifier, ": a description with a classifier trains a noisy classifier and has "
        "no '", section, "' section (a diffusion pipeline uses the trained classifier "
        "through guidance \"classifier\" with classifier \"trained_classifier\")"));
  }
  ABSL_RETURN_IF_ERROR(RequireSection(c, "forward", c.has_forward()));
  ABSL_RETURN_IF_ERROR(BuildForward(p, context, classifier, "classifier"));
  ABSL_ASSIGN_OR_RETURN(p.classifier, Registry<NoisyClassifier>::Global().Create(
                                          c.classifier(), "classifier", context));
  if (p.classifier->module() == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(classifier, " has no network to train (it is analytic)"));
  }
  p.trained_module_ = Unowned(*p.classifier->module());
  return absl::OkStatus();
}

// Data with captions, and a text encoder of the given width.
absl::Status BuildTextEncoder(Pipeline& p, const BuildContext& context) {
  const PipelineConfig& c = p.config;
  if (p.data->captioner() == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text_encoder '", c.text_encoder().name(), "': training reads the data's captions; "
        "data '", c.data().name(), "' has none (fashion_mnist has them unless grey_levels > 0)"));
  }
  ABSL_ASSIGN_OR_RETURN(p.text_encoder, Registry<TextEncoder>::Global().Create(
                                            c.text_encoder(), "text_encoder", context));
  return absl::OkStatus();
}

// A text-image description: captioned data, an image encoder and a text encoder of one
// width, trained together by the contrastive loss; with a forward process the image
// encoder reads x_t at t.
absl::Status BuildTextImageDescription(Pipeline& p, BuildContext& context) {
  const PipelineConfig& c = p.config;
  const std::string text = absl::StrCat("text_encoder '", c.text_encoder().name(), "'");
  if (const char* section = FirstPresent(
          {{"prior", c.has_prior()}, {"reverse", c.has_reverse()},
           {"guidance", c.guidance_size() > 0}, {"decoder", c.has_decoder()},
           {"classifier", c.has_classifier()}, {"edit", c.has_edit()}})) {
    return absl::InvalidArgumentError(absl::StrCat(
        text, ": a description with a text encoder and no predictor trains a text-image "
        "model and has no '", section, "' section (a diffusion pipeline reads the trained "
        "model through guidance \"clip\" or text_encoder \"trained_text_encoder\")"));
  }
  if (!c.has_encoder()) {
    return absl::InvalidArgumentError(absl::StrCat(
        text, ": a text-image description needs an encoder section (the image encoder)"));
  }
  if (c.has_forward()) ABSL_RETURN_IF_ERROR(BuildForward(p, context, text, "text-image"));
  ABSL_RETURN_IF_ERROR(BuildTextEncoder(p, context));
  if (p.text_encoder->module() == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(text, " has no network to train (it is loaded frozen)"));
  }
  ABSL_ASSIGN_OR_RETURN(p.encoder,
                        Registry<Encoder>::Global().Create(c.encoder(), "encoder", context));
  const std::string encoder = absl::StrCat("encoder '", c.encoder().name(), "'");
  if (p.encoder->gaussian()) {
    return absl::InvalidArgumentError(
        absl::StrCat(encoder, ": a text-image model's image encoder is deterministic (gaussian: false)"));
  }
  if (p.encoder->latent_dim() != p.text_encoder->embedding_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        encoder, " embeds images in width ", p.encoder->latent_dim(), " but ", text,
        " embeds text in width ", p.text_encoder->embedding_dim()));
  }
  if (c.has_forward() != p.encoder->takes_time()) {
    return absl::InvalidArgumentError(absl::StrCat(
        encoder, c.has_forward()
                     ? ": with a forward process the image encoder sees x_t and must read t "
                       "(set its time_input)"
                     : ": takes a time input, but without a forward process it sees clean "
                       "images (add a forward section for a noise-aware encoder)"));
  }
  auto group = GroupModules("TextImage", {{"encoder", &p.encoder->module()},
                                          {"text_encoder", p.text_encoder->module()}});
  // CLIP's learned temperature, initialized to 1 / 0.07.
  p.logit_scale = group->register_parameter("logit_scale",
                                            torch::full({}, std::log(1 / 0.07), torch::kFloat32));
  p.trained_module_ = std::move(group);
  return absl::OkStatus();
}

// A diffusion description with a text encoder: the predictor is conditioned on prompt
// embeddings as its latent.
absl::Status BuildTextConditioning(Pipeline& p, const BuildContext& context) {
  const PipelineConfig& c = p.config;
  const std::string text = absl::StrCat("text_encoder '", c.text_encoder().name(), "'");
  ABSL_RETURN_IF_ERROR(BuildTextEncoder(p, context));
  if (p.text_encoder->module() != nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        text, ": a text-conditioned predictor reads a text encoder trained before, in a "
        "text-image description (text_encoder \"trained_text_encoder\" with its checkpoint)"));
  }
  if (c.has_encoder()) {
    return absl::InvalidArgumentError(absl::StrCat(
        text, " and encoder '", c.encoder().name(), "' would both condition the predictor's "
        "latent; keep one"));
  }
  // The predictor reads the pooled embedding as its latent, the token states by
  // cross-attention, or both.
  const int64_t latent_dim = p.predictor->conditions().latent_dim;
  const int64_t context_dim = p.predictor->conditions().context_dim;
  const std::string predictor = absl::StrCat("predictor '", c.predictor().name(), "'");
  if (latent_dim == 0 && context_dim == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        predictor, " reads no text: give it latent_dim = ", p.text_encoder->embedding_dim(),
        " (the pooled embedding) or context_dim = ", p.text_encoder->token_state_dim(),
        " (the token states, by cross-attention)"));
  }
  if (latent_dim > 0 && latent_dim != p.text_encoder->embedding_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        text, " embeds prompts in width ", p.text_encoder->embedding_dim(), " but ", predictor,
        " takes latent_dim = ", latent_dim));
  }
  if (context_dim > 0 && context_dim != p.text_encoder->token_state_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        text, p.text_encoder->token_state_dim() == 0
                  ? std::string(" has no per-token states (a transformer_text encoder has)")
                  : absl::StrCat(" has token states of width ", p.text_encoder->token_state_dim()),
        " but ", predictor, " takes context_dim = ", context_dim));
  }
  if (p.prior->latent_dim() > 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prior '", c.prior().name(), "' draws a latent that ", text, " already supplies"));
  }
  // Training embeds every caption: each word of the data's must be the encoder's.
  for (const std::string& word : p.data->captioner()->vocabulary()) {
    if (!p.text_encoder->Tokenize(word).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          text, " does not know the caption word '", word, "' of data '", c.data().name(), "'"));
    }
  }
  const SamplerOptions& s = c.sampler();
  const std::vector<std::string> prompts(s.prompts().begin(), s.prompts().end());
  if (latent_dim > 0) {
    ABSL_ASSIGN_OR_RETURN(p.prompt_embeddings,
                          EmbedPrompts(*p.text_encoder, prompts, "sampler.prompts"));
    if (s.has_negative_prompt()) {
      ABSL_ASSIGN_OR_RETURN(p.negative_prompt_embedding,
                            EmbedPrompts(*p.text_encoder, {s.negative_prompt()},
                                         "sampler.negative_prompt"));
    } else {
      p.negative_prompt_embedding = torch::zeros({1, latent_dim}, torch::kFloat32);
    }
  }
  if (context_dim > 0) {
    // The null condition of cross-attention is the empty prompt's states, as condition
    // dropout trains it (and as Stable Diffusion's unconditional branch reads "").
    if (!prompts.empty()) {
      ABSL_ASSIGN_OR_RETURN(p.prompt_tokens,
                            EmbedPromptTokens(*p.text_encoder, prompts, "sampler.prompts"));
    }
    ABSL_ASSIGN_OR_RETURN(p.negative_prompt_tokens,
                          EmbedPromptTokens(*p.text_encoder, {s.negative_prompt()},
                                            "sampler.negative_prompt"));
  }
  return absl::OkStatus();
}

class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(std::string source) : source_(std::move(source)) {}
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) first_ = absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string source_;
  std::string first_;
};

// A diffusion description: forward process, predictor, prior, reverse conditional,
// guidance, and optionally an encoder of z and a text encoder of prompts; checked pairwise.
absl::Status BuildDiffusion(Pipeline& p, BuildContext& context) {
  const PipelineConfig& c = p.config;
  ABSL_RETURN_IF_ERROR(BuildForward(p, context));
  ABSL_ASSIGN_OR_RETURN(p.predictor, Registry<X0Predictor>::Global().Create(
                                          c.predictor(), "predictor", context));
  context.predictor = p.predictor.get();
  ABSL_RETURN_IF_ERROR(CheckPredictorKind(p));
  ABSL_ASSIGN_OR_RETURN(p.prior, Registry<LatentPrior>::Global().Create(
                                      c.prior(), "prior", context));
  ABSL_RETURN_IF_ERROR(Prefixed(absl::StrCat("prior '", c.prior().name(), "'"),
                                p.prior->CheckCompatible(*p.forward)));
  if (const int64_t z = p.prior->latent_dim();
      z > 0 && z != p.predictor->conditions().latent_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prior '", c.prior().name(), "' draws z of width ", z, " but predictor '",
        c.predictor().name(), "' takes latent_dim = ", p.predictor->conditions().latent_dim));
  }
  if (c.has_text_encoder()) ABSL_RETURN_IF_ERROR(BuildTextConditioning(p, context));
  ABSL_ASSIGN_OR_RETURN(p.reverse, Registry<ReverseConditional>::Global().Create(
                                        c.reverse(), "reverse", context));
  ABSL_RETURN_IF_ERROR(Prefixed(
      absl::StrCat("reverse '", c.reverse().name(), "' with forward '",
                   c.forward().name(), "'"),
      p.reverse->CheckCompatible(*p.forward)));
  for (int i = 0; i < c.guidance_size(); ++i) {
    const std::string field = absl::StrCat("guidance[", i, "]");
    ABSL_ASSIGN_OR_RETURN(std::unique_ptr<GuidanceTerm> term,
                          Registry<GuidanceTerm>::Global().Create(c.guidance(i), field,
                                                                  context));
    ABSL_RETURN_IF_ERROR(
        Prefixed(absl::StrCat(field, " '", c.guidance(i).name(), "'"),
                 term->CheckCompatible(*p.forward, *p.predictor)));
    p.guidance.push_back(std::move(term));
  }
  ABSL_RETURN_IF_ERROR(BuildEncoder(p, context));
  ABSL_ASSIGN_OR_RETURN(p.times, MakeSamplerGrid(c.sampler(), *p.forward));
  ABSL_RETURN_IF_ERROR(CheckSampler(p));
  return absl::OkStatus();
}

// How each kind of description is assembled: the sections it requires (checked before any
// component is built, since data loads files) and its build step after the data.
struct KindAssembly {
  std::vector<const char*> required;
  absl::Status (*build)(Pipeline&, BuildContext&);
};

const KindAssembly& AssemblyOf(DescriptionKind kind) {
  static const auto* const kAssemblies = new std::map<DescriptionKind, KindAssembly>{
      {DescriptionKind::kDiffusion, {{"forward", "predictor", "prior", "reverse"}, BuildDiffusion}},
      {DescriptionKind::kAutoencoder, {{}, BuildAutoencoder}},
      {DescriptionKind::kClassifier, {{}, BuildClassifierDescription}},
      {DescriptionKind::kTextImage, {{}, BuildTextImageDescription}},
  };
  return kAssemblies->at(kind);
}

}  // namespace

SamplingComponents Pipeline::sampling() const {
  SamplingComponents c{forward.get(), predictor.get(), reverse.get(), {}};
  for (const auto& g : guidance) c.guidance.push_back(g.get());
  c.clip_x0 = config.sampler().clip_x0();
  c.dynamic_threshold = config.sampler().dynamic_threshold();
  c.end_time = config.sampler().end_time();
  if (prior != nullptr && prior->latent_per_step()) c.latent_per_step = prior->latent_dim();
  return c;
}

ConditionSupport Pipeline::label_support() const {
  if (predictor == nullptr) return {};  // an autoencoder
  ConditionSupport support = predictor->conditions();
  for (const auto& term : guidance) {
    support.num_classes = std::max(support.num_classes, term->conditions().num_classes);
    support.prompts = support.prompts || term->conditions().prompts;
  }
  return support;
}

at::Tensor Pipeline::LabelsFor(int64_t first, int64_t count) const {
  const SamplerOptions& s = config.sampler();
  at::Tensor index = torch::arange(first, first + count, torch::kLong);
  if (s.labels_size() > 0) {
    std::vector<int64_t> labels(s.labels().begin(), s.labels().end());
    return torch::tensor(labels, torch::kLong).index_select(0, index.remainder(s.labels_size()));
  }
  const int64_t k = label_support().num_classes;
  return k > 0 ? index.remainder(k) : at::Tensor();
}

at::Tensor Pipeline::PromptsFor(int64_t first, int64_t count) const {
  const int64_t n = config.sampler().prompts_size();
  if (n == 0) return at::Tensor();
  return torch::arange(first, first + count, torch::kLong).remainder(n);
}

absl::StatusOr<std::unique_ptr<Pipeline>> BuildPipeline(const PipelineConfig& config) {
  auto p = std::make_unique<Pipeline>();
  p->config = config;
  ABSL_RETURN_IF_ERROR(RequireSection(config, "data", config.has_data()));
  p->kind = KindOf(config);
  const KindAssembly& assembly = AssemblyOf(p->kind);
  for (const char* section : assembly.required) {
    const google::protobuf::FieldDescriptor* field =
        PipelineConfig::descriptor()->FindFieldByName(section);
    ABSL_RETURN_IF_ERROR(RequireSection(
        config, section, PipelineConfig::GetReflection()->HasField(config, field)));
  }
  BuildContext context;
  context.config = &p->config;
  context.trained = &PipelineLoader();
  ABSL_ASSIGN_OR_RETURN(p->data,
                        Registry<Dataset>::Global().Create(config.data(), "data", context));
  context.data = p->data.get();
  ABSL_RETURN_IF_ERROR(assembly.build(*p, context));
  return p;
}

absl::StatusOr<PipelineConfig> ParsePipelineText(const std::string& text,
                                                 const std::string& source) {
  PipelineConfig config;
  ErrorCollector errors(source);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  // The parser recurses per nesting level with no limit of its own; a nested pipeline
  // (latent prior) is ~10 levels deep, a hostile one could overflow the stack.
  parser.SetRecursionLimit(kMaxDescriptionDepth);
  if (!parser.ParseFromString(text, &config)) {
    return absl::InvalidArgumentError(
        errors.first().empty() ? absl::StrCat(source, ": malformed pipeline") : errors.first());
  }
  return config;
}

absl::StatusOr<PipelineConfig> LoadPipelineFile(const std::string& path) {
  ABSL_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParsePipelineText(text, path);
}

}  // namespace diffuse
