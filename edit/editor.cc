#include "edit/editor.h"

#include <cmath>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "assembly/trained_loader.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "reverse/inversion.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// num_steps times from start down to start / num_steps, uniformly spaced (rounded to
// training steps for discrete time).
absl::StatusOr<std::vector<double>> EditGrid(double start, int num_steps, const TimeDomain& d,
                                             absl::string_view field) {
  std::vector<double> times;
  for (int k = 0; k < num_steps; ++k) {
    double t = start * (num_steps - k) / num_steps;
    if (d.discrete) t = std::round(t);
    if (t <= 0 || (!times.empty() && t >= times.back())) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " = ", num_steps, " steps do not fit in (0, ", start,
          "] as distinct training steps"));
    }
    times.push_back(t);
  }
  return times;
}

absl::Status CheckOptions(const EditOptions& o) {
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.start_time", o.start_time(), 1e-9, 1));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.inversion_steps", o.inversion_steps(), 1, 1000));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.num_steps", o.num_steps(), 1, 1000));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.shift_scale", o.shift_scale(), -100, 100));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.epochs", o.epochs(), 1, 10000));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.batch_size", o.batch_size(), 1, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.learning_rate", o.learning_rate(), 1e-12, 10));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.reconstruction_weight", o.reconstruction_weight(), 0, 1e6));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.noise_iterations", o.noise_iterations(), 1, 100000));
  ABSL_RETURN_IF_ERROR(CheckInRange("edit.shift_channels", o.shift_channels(), 2, 4096));
  if (o.shift_channels() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "edit.shift_channels = ", o.shift_channels(), " must be even (a sinusoidal embedding)"));
  }
  if (o.method() == EditOptions::ASYRP) {
    ABSL_RETURN_IF_ERROR(CheckInRange("edit.edit_until", o.edit_until(), 0, 1));
    ABSL_RETURN_IF_ERROR(CheckInRange("edit.boost_below", o.boost_below(), 0, 1));
    if (o.edit_until() > o.start_time()) {
      return absl::InvalidArgumentError(absl::StrCat("edit.edit_until = ", o.edit_until(),
                                                     " must be <= edit.start_time = ",
                                                     o.start_time(), " (the phases' order)"));
    }
    if (o.boost_below() > o.edit_until()) {
      return absl::InvalidArgumentError(absl::StrCat("edit.boost_below = ", o.boost_below(),
                                                     " must be <= edit.edit_until = ",
                                                     o.edit_until(), " (the phases' order)"));
    }
  }
  return absl::OkStatus();
}

// LibTorch's messages run over many lines (with a backtrace); errors are one line.
std::string FirstLine(const std::string& what) { return what.substr(0, what.find('\n')); }

}  // namespace

RequiresGradScope::RequiresGradScope(std::vector<at::Tensor> weights, bool value)
    : weights_(std::move(weights)) {
  for (at::Tensor& w : weights_) {
    before_.push_back(w.requires_grad());
    w.set_requires_grad(value);
  }
}

RequiresGradScope::~RequiresGradScope() {
  for (size_t i = 0; i < weights_.size(); ++i) weights_[i].set_requires_grad(before_[i]);
}

BottleneckHookScope::BottleneckHookScope(X0Predictor& predictor, BottleneckHook hook)
    : predictor_(predictor) {
  (void)predictor_.SetBottleneckHook(std::move(hook));  // BuildEditor checked the bottleneck
}

BottleneckHookScope::~BottleneckHookScope() { (void)predictor_.SetBottleneckHook(nullptr); }

at::Tensor EditContext::Invert(const at::Tensor& x0) const {
  const int64_t chunk = pipeline->config.sampler().batch_size();
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x0.size(0); i += chunk) {
    parts.push_back(InvertToNoise(plain, x0.slice(0, i, i + chunk), inversion_times, {}));
  }
  return torch::cat(parts);
}

at::Tensor EditContext::Step(const at::Tensor& x, double t, double t_prev,
                             const at::Tensor& x0_orig, const at::Tensor& x0_edit) const {
  if (t_prev <= 0) return x0_edit;
  const ForwardProcess& f = *plain.forward;
  return f.Apply(x0_edit, t_prev, f.InvertNoise(x0_orig, x, t));
}

at::Tensor EditContext::Regenerate(const at::Tensor& x_start) const {
  at::Tensor x = x_start;
  for (size_t k = 0; k < times.size(); ++k) {
    const at::Tensor x0 = plain.predictor->Predict(x, times[k], {}).x0;
    x = Step(x, times[k], k + 1 < times.size() ? times[k + 1] : 0.0, x0, x0);
  }
  return x;
}

EditContext::Objective EditContext::Evaluate(const at::Tensor& x_edit,
                                             const at::Tensor& x_orig) const {
  const at::Tensor edit = loss->Loss(x_edit, x_orig).mean();
  return {edit + options.reconstruction_weight() * (x_edit - x_orig).abs().mean(), edit};
}

absl::StatusOr<std::unique_ptr<Editor>> BuildEditor(Pipeline& p) {
  if (!p.config.has_edit()) {
    return absl::InvalidArgumentError("the description has no edit section");
  }
  if (p.predictor == nullptr || p.forward == nullptr) {
    return absl::FailedPreconditionError(
        "edit: needs a diffusion description (forward process and predictor)");
  }
  EditContext c;
  c.pipeline = &p;
  c.options = p.config.edit();
  ABSL_RETURN_IF_ERROR(CheckOptions(c.options));
  if (p.forward->gaussian() == nullptr || !p.forward->IsInvertible() || p.forward->HasOffset()) {
    return absl::FailedPreconditionError(
        "edit: needs a forward process with Gaussian coefficients, invertible, without an "
        "offset (DDIM inversion)");
  }
  const ConditionSupport needs = p.predictor->conditions();
  if (needs.latent_dim > 0 || needs.image_channels > 0 || needs.num_classes > 0) {
    return absl::FailedPreconditionError(
        "edit: the predictor is conditional (labels, a latent, a prompt or an image); "
        "edits run the unconditional model");
  }
  if (c.options.method() == EditOptions::ASYRP) {
    absl::Status hook = p.predictor->SetBottleneckHook(nullptr);
    if (!hook.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "edit.method ASYRP: predictor '", p.config.predictor().name(), "': ", hook.message()));
    }
  } else if (p.predictor->trainable() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "edit.method ", EditOptions::Method_Name(c.options.method()), ": predictor '",
        p.config.predictor().name(), "' has no trained network"));
  }
  if (!c.options.has_loss()) return absl::InvalidArgumentError("edit.loss is required");
  BuildContext context;
  context.config = &p.config;
  context.trained = &PipelineLoader();
  context.data = p.data.get();
  context.forward = p.forward.get();
  context.predictor = p.predictor.get();
  ABSL_ASSIGN_OR_RETURN(c.loss, Registry<EditLoss>::Global().Create(c.options.loss(), "edit.loss", context));
  c.plain.forward = p.forward.get();
  c.plain.predictor = p.predictor.get();
  const TimeDomain domain = p.forward->time_domain();
  c.t_max = domain.t_max();
  const double start = c.options.start_time() * c.t_max;
  ABSL_ASSIGN_OR_RETURN(c.inversion_times,
                        EditGrid(start, c.options.inversion_steps(), domain, "edit.inversion_steps"));
  ABSL_ASSIGN_OR_RETURN(c.times, EditGrid(start, c.options.num_steps(), domain, "edit.num_steps"));
  c.dtype = p.config.sampler().dtype() == FLOAT64 ? at::kDouble : at::kFloat;
  if (torch::nn::Module* module = p.trained_module(); module != nullptr) module->to(c.dtype);
  if (c.options.method() == EditOptions::ASYRP) return MakeAsyrpEditor(std::move(c));
  return MakeDiffusionClipEditor(std::move(c));
}

absl::Status SaveLearned(Editor& editor, const std::string& path) {
  torch::nn::Module* m = editor.learned();
  if (m == nullptr) return absl::FailedPreconditionError("this edit method learns no weights");
  return WriteAtomicallyWith(path, [&](const std::string& tmp) -> absl::Status {
    try {
      torch::serialize::OutputArchive archive;
      m->save(archive);
      archive.save_to(tmp);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat(path, ": ", FirstLine(e.what())));
    }
    return absl::OkStatus();
  });
}

absl::Status LoadLearned(Editor& editor, const std::string& path) {
  torch::nn::Module* m = editor.learned();
  if (m == nullptr) return absl::FailedPreconditionError("this edit method learns no weights");
  if (!FileExists(path)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  // Module::load takes whatever shapes the file holds: compare them with the module's.
  std::vector<std::pair<std::string, at::Tensor>> before;
  for (const auto& item : m->named_parameters()) before.emplace_back(item.key(), item.value().detach().clone());
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path);
    m->load(archive);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not the learned weights of this edit (", FirstLine(e.what()), ")"));
  }
  const auto after = m->named_parameters();
  for (const auto& [name, old] : before) {
    const at::Tensor& now = after[name];
    if (now.sizes() != old.sizes() || now.scalar_type() != old.scalar_type()) {
      at::NoGradGuard no_grad;
      for (const auto& [n, w] : before) after[n].set_data(w);  // leave the editor as it was
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": ", name, " has shape [", absl::StrJoin(now.sizes(), ", "), "] ",
          c10::toString(now.scalar_type()), ", this edit's [", absl::StrJoin(old.sizes(), ", "),
          "] ", c10::toString(old.scalar_type()), " (learned for another model or options)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace diffuse
