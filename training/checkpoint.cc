#include "training/checkpoint.h"

#include <map>
#include <memory>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>
#include <torch/ordered_dict.h>
#include <torch/types.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/atomic_file.h"
#include "util/checksummed.h"
#include "util/safetensors.h"

namespace diffuse {

namespace {

constexpr char kFormat[] = "diffuse-checkpoint-v3";  // the header word and "format" entry

std::string Shape(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

// Adam's and AdamW's per-parameter states hold the same four fields.
struct AdamFields {
  int64_t step = 0;
  at::Tensor exp_avg, exp_avg_sq, max_exp_avg_sq;
};

const char* OptimizerName(const torch::optim::Optimizer* o) {
  if (dynamic_cast<const torch::optim::AdamW*>(o) != nullptr) return "AdamW";
  if (dynamic_cast<const torch::optim::Adam*>(o) != nullptr) return "Adam";
  return nullptr;
}

// The optimizer's state key of a parameter (adam.cpp, adamw.cpp).
std::string StateKey(const at::Tensor& param) {
  return c10::guts::to_string(param.unsafeGetTensorImpl());
}

bool GetAdamState(const torch::optim::Optimizer& o, const at::Tensor& param, AdamFields* f) {
  const auto it = o.state().find(StateKey(param));
  if (it == o.state().end()) return false;
  if (const auto* s = dynamic_cast<const torch::optim::AdamParamState*>(it->second.get())) {
    *f = {s->step(), s->exp_avg(), s->exp_avg_sq(), s->max_exp_avg_sq()};
  } else {
    const auto& w = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    *f = {w.step(), w.exp_avg(), w.exp_avg_sq(), w.max_exp_avg_sq()};
  }
  return true;
}

void SetAdamState(torch::optim::Optimizer& o, const at::Tensor& param, const AdamFields& f) {
  std::unique_ptr<torch::optim::OptimizerParamState> state;
  if (dynamic_cast<torch::optim::AdamW*>(&o) != nullptr) {
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(f.step).exp_avg(f.exp_avg).exp_avg_sq(f.exp_avg_sq).max_exp_avg_sq(f.max_exp_avg_sq);
    state = std::move(s);
  } else {
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(f.step).exp_avg(f.exp_avg).exp_avg_sq(f.exp_avg_sq).max_exp_avg_sq(f.max_exp_avg_sq);
    state = std::move(s);
  }
  o.state()[StateKey(param)] = std::move(state);
}

// The tensors of a decoded blob by name; each is taken out once, and what is left at the
// end was not expected (a network with more parameters than this one).
class Entries {
 public:
  Entries(const std::string& path, Safetensors file) : path_(path) {
    for (auto& [name, t] : file.tensors) tensors_[name] = t;
  }

  // The tensor `name`, with `like`'s shape (and dtype unless `any_dtype`).
  absl::StatusOr<at::Tensor> Take(const std::string& name, const at::Tensor& like,
                                  const std::string& role, bool any_dtype = false) {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) return Unfit(absl::StrCat(role, " is missing there"));
    at::Tensor t = it->second;
    tensors_.erase(it);
    if (!t.sizes().equals(like.sizes())) {
      return Unfit(absl::StrCat(role, " is ", Shape(t), " there, ", Shape(like), " here"));
    }
    if (!any_dtype && t.scalar_type() != like.scalar_type()) {
      return Unfit(absl::StrCat(role, " is ", c10::toString(t.scalar_type()), " there, ",
                                c10::toString(like.scalar_type()), " here"));
    }
    return t;
  }

  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }

  at::Tensor TakeUnchecked(const std::string& name) {
    at::Tensor t = tensors_.at(name);
    tensors_.erase(name);
    return t;
  }

  // Every tensor whose name starts with `prefix`, by the rest of its name.
  std::map<std::string, at::Tensor> TakePrefix(const std::string& prefix) {
    std::map<std::string, at::Tensor> taken;
    const auto begin = tensors_.lower_bound(prefix), end = tensors_.lower_bound(prefix + '\xff');
    for (auto it = begin; it != end; ++it) taken[it->first.substr(prefix.size())] = it->second;
    tensors_.erase(begin, end);
    return taken;
  }

  void DropPrefix(const std::string& prefix) {
    tensors_.erase(tensors_.lower_bound(prefix), tensors_.lower_bound(prefix + '\xff'));
  }

  absl::Status CheckNoneLeft() const {
    if (tensors_.empty()) return absl::OkStatus();
    return Unfit(absl::StrCat("'", tensors_.begin()->first, "' there has no counterpart here"));
  }

  absl::Status Unfit(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", path_, " does not fit this pipeline's network: ", what));
  }

 private:
  std::string path_;
  std::map<std::string, at::Tensor> tensors_;
};

// Adam's state of each parameter the file has state for (none before the first step), its
// tensors shaped and typed like the stored parameters (`stored`, in named_parameters()
// order).
absl::StatusOr<std::vector<AdamFields>> ReadOptimizerState(
    Entries& entries, const std::string& path, const std::string& stored_name,
    const torch::OrderedDict<std::string, at::Tensor>& params,
    const std::vector<at::Tensor>& stored, const torch::optim::Optimizer& optimizer) {
  const char* name = OptimizerName(&optimizer);
  if (name == nullptr || stored_name != name) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", path, " holds ", stored_name,
                                                   " state; this run uses ",
                                                   name ? name : "another optimizer"));
  }
  std::vector<AdamFields> states(params.size());
  const at::Tensor step_like = torch::zeros({}, torch::kLong);
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string prefix = absl::StrCat("adam/", params[i].key(), "/");
    if (!entries.Has(prefix + "step")) continue;
    AdamFields& f = states[i];
    absl::StatusOr<at::Tensor> step = entries.Take(prefix + "step", step_like, prefix + "step");
    if (!step.ok()) return step.status();
    f.step = step->item<int64_t>();
    if (f.step < 1) return entries.Unfit(absl::StrCat(prefix, "step is ", f.step));
    const std::pair<const char*, at::Tensor*> fields[] = {
        {"exp_avg", &f.exp_avg}, {"exp_avg_sq", &f.exp_avg_sq}, {"max_exp_avg_sq", &f.max_exp_avg_sq}};
    for (const auto& [field, out] : fields) {
      if (out == &f.max_exp_avg_sq && !entries.Has(prefix + field)) break;  // amsgrad only
      absl::StatusOr<at::Tensor> t = entries.Take(prefix + field, stored[i], prefix + field);
      if (!t.ok()) return t.status();
      *out = *t;
    }
  }
  return states;
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, const TrainingState& state) {
  const char* optimizer_name = OptimizerName(&optimizer);
  if (optimizer_name == nullptr) {
    return absl::InternalError(
        absl::StrCat("cannot write checkpoint ", path, ": the optimizer is not Adam or AdamW"));
  }
  Safetensors file;
  file.metadata = {{"format", kFormat},
                   {"pipeline", state.pipeline_text},
                   {"step", absl::StrCat(state.step)},
                   {"optimizer", optimizer_name}};
  const auto params = module.named_parameters();
  for (const auto& item : params) file.tensors.emplace_back("param/" + item.key(), item.value());
  for (const auto& item : module.named_buffers()) {
    file.tensors.emplace_back("buffer/" + item.key(), item.value());
  }
  for (size_t i = 0; i < state.ema.size() && i < params.size(); ++i) {
    file.tensors.emplace_back("ema/" + params[i].key(), state.ema[i]);
  }
  for (const auto& item : params) {
    AdamFields f;
    if (!GetAdamState(optimizer, item.value(), &f)) continue;
    const std::string prefix = absl::StrCat("adam/", item.key(), "/");
    file.tensors.emplace_back(prefix + "step", torch::tensor(f.step, torch::kLong).reshape({}));
    file.tensors.emplace_back(prefix + "exp_avg", f.exp_avg);
    file.tensors.emplace_back(prefix + "exp_avg_sq", f.exp_avg_sq);
    if (f.max_exp_avg_sq.defined()) file.tensors.emplace_back(prefix + "max_exp_avg_sq", f.max_exp_avg_sq);
  }
  for (const auto& [name, t] : state.objective_state) {
    file.tensors.emplace_back("objective/" + name, t);
  }
  if (state.generator_state.defined()) {
    file.tensors.emplace_back("generator_state", state.generator_state);
  }
  absl::StatusOr<std::string> blob = EncodeSafetensors(file, "checkpoint " + path);
  if (!blob.ok()) return blob.status();
  return WriteFileAtomically(path, WithChecksumHeader(kFormat, *blob));
}

namespace {

// The checkpoint's safetensors blob, after its header, checksum and length are checked.
absl::StatusOr<Safetensors> ReadCheckpointFile(const std::string& path) {
  if (!FileExists(path)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", path, " does not exist"));
  }
  absl::StatusOr<std::string> bytes = ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  const std::string word = HeaderWord(*bytes);
  if (absl::StartsWith(*bytes, "PK") || word == "diffuse-checkpoint-v2") {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", path, " is in the ", word.empty() ? "v1" : "v2",
        " format (a LibTorch archive, which this version reads only to convert it); run "
        "`diffuse upgrade-checkpoint --checkpoint=", path, "` once"));
  }
  if (word != kFormat) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " is not a diffuse checkpoint "
                                            "(no '", kFormat, "' header line)"));
  }
  absl::StatusOr<absl::string_view> blob =
      ChecksummedPayload("checkpoint " + path, *bytes, kFormat);
  if (!blob.ok()) return blob.status();
  return DecodeSafetensors(*blob, "checkpoint " + path);
}

}  // namespace

absl::StatusOr<std::string> ReadCheckpointDescription(const std::string& path) {
  absl::StatusOr<Safetensors> file = ReadCheckpointFile(path);
  if (!file.ok()) return file.status();
  const auto it = file->metadata.find("pipeline");
  if (it == file->metadata.end()) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " lacks its pipeline entry"));
  }
  return it->second;
}

absl::Status LoadCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer* optimizer, TrainingState* state) {
  absl::StatusOr<Safetensors> file = ReadCheckpointFile(path);
  if (!file.ok()) return file.status();
  const std::map<std::string, std::string> meta = file->metadata;
  int64_t step = 0;
  if (!meta.count("format") || meta.at("format") != kFormat || !meta.count("pipeline") ||
      !meta.count("optimizer") || !meta.count("step") ||
      !absl::SimpleAtoi(meta.at("step"), &step) || step < 0) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint ", path, " lacks its format, pipeline, optimizer or step entry"));
  }
  Entries entries(path, *std::move(file));

  // Everything is checked before the module changes, so a refused file leaves it intact.
  std::vector<std::pair<at::Tensor, at::Tensor>> assign;  // (parameter or buffer, stored)
  const auto params = module.named_parameters();
  for (const auto& item : params) {
    absl::StatusOr<at::Tensor> t = entries.Take("param/" + item.key(), item.value(),
                                                absl::StrCat("parameter '", item.key(), "'"),
                                                /*any_dtype=*/true);
    if (!t.ok()) return t.status();
    assign.emplace_back(item.value(), *t);
  }
  for (const auto& item : module.named_buffers()) {
    absl::StatusOr<at::Tensor> t = entries.Take("buffer/" + item.key(), item.value(),
                                                absl::StrCat("buffer '", item.key(), "'"),
                                                /*any_dtype=*/true);
    if (!t.ok()) return t.status();
    assign.emplace_back(item.value(), *t);
  }
  std::vector<at::Tensor> ema;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string name = "ema/" + params[i].key();
    if (!entries.Has(name)) break;
    absl::StatusOr<at::Tensor> t = entries.Take(name, assign[i].second, "EMA of '" + params[i].key() + "'");
    if (!t.ok()) return t.status();
    ema.push_back(*t);
  }
  if (!ema.empty() && ema.size() != params.size()) {  // every parameter's EMA, or none
    return absl::InvalidArgumentError(absl::StrCat("checkpoint ", path, " holds ", ema.size(),
                                                   " EMA weights for ", params.size(),
                                                   " parameters"));
  }
  at::Tensor generator_state;
  if (entries.Has("generator_state")) {
    // at::Generator::set_state throws on any other size; refuse it here instead.
    static const int64_t kStateBytes = at::detail::createCPUGenerator().get_state().numel();
    generator_state = entries.TakeUnchecked("generator_state");
    if (generator_state.scalar_type() != torch::kByte || generator_state.dim() != 1 ||
        generator_state.numel() != kStateBytes) {
      return absl::DataLossError(absl::StrCat("checkpoint ", path, ": generator_state is ",
                                              c10::toString(generator_state.scalar_type()),
                                              Shape(generator_state), ", not uint8[",
                                              kStateBytes, "]"));
    }
  }
  std::vector<AdamFields> adam;
  if (optimizer != nullptr) {
    std::vector<at::Tensor> stored;
    for (size_t i = 0; i < params.size(); ++i) stored.push_back(assign[i].second);
    absl::StatusOr<std::vector<AdamFields>> read =
        ReadOptimizerState(entries, path, meta.at("optimizer"), params, stored, *optimizer);
    if (!read.ok()) return read.status();
    adam = *std::move(read);
  }
  entries.DropPrefix("adam/");  // unread when sampling
  std::map<std::string, at::Tensor> objective_state = entries.TakePrefix("objective/");
  if (absl::Status rest = entries.CheckNoneLeft(); !rest.ok()) return rest;

  {
    at::NoGradGuard no_grad;
    // set_data keeps each parameter's identity (the optimizer's references stay valid)
    // and takes the stored dtype, as module.load did.
    for (auto& [target, stored] : assign) target.set_data(stored);
  }
  if (optimizer != nullptr) {
    optimizer->state().clear();
    for (size_t i = 0; i < params.size(); ++i) {
      if (adam[i].step > 0) SetAdamState(*optimizer, params[i].value(), adam[i]);
    }
  }
  state->step = step;
  state->pipeline_text = meta.at("pipeline");
  state->generator_state = generator_state;
  state->ema = std::move(ema);
  state->objective_state = std::move(objective_state);
  return absl::OkStatus();
}

void UseEmaWeights(torch::nn::Module& module, const std::vector<at::Tensor>& ema) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> params = module.parameters();
  for (size_t i = 0; i < params.size() && i < ema.size(); ++i) params[i].copy_(ema[i]);
}

}  // namespace diffuse
