#include "assembly/generate.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/stack.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "models/module_ops.h"
#include "models/trainable_model.h"
#include "random/noise_source.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status CheckSampleCount(const Pipeline& p, int64_t num, bool record_trajectory,
                              absl::string_view name) {
  if (num < 1) return absl::InvalidArgumentError(absl::StrCat(name, " = ", num, " must be >= 1"));
  const std::vector<int64_t> shape = p.data->sample_shape();
  int64_t per_sample = p.config.sampler().dtype() == FLOAT64 ? 8 : 4;
  for (int64_t d : shape) per_sample *= d;
  // trajectory + x0 trajectory: 2 S + 1 states per sample besides the result.
  if (record_trajectory) per_sample *= 2 * static_cast<int64_t>(p.times.size()) + 2;
  if (num > kMaxGeneratedBytes / std::max<int64_t>(per_sample, 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " = ", num, ": samples of shape [", absl::StrJoin(shape, ", "), "] would take ",
        absl::StrFormat("%.3g", static_cast<double>(num) * per_sample / (1 << 30)),
        " GiB; at most ", kMaxGeneratedBytes >> 30, " GiB per run (",
        kMaxGeneratedBytes / std::max<int64_t>(per_sample, 1),
        " samples): split it into runs with other --seed values"));
  }
  return absl::OkStatus();
}

namespace {

// An autoencoder's samples: the mean of p(x | z) for z drawn from each sample's own stream
// (N(0, I), or the description's prior over z: latent diffusion) or for the given latents,
// in one decoder call per chunk.
absl::StatusOr<Generated> DecodeFromPrior(Pipeline& p, const GenerateRequest& request) {
  if (request.x_start.defined() || request.step_noise.defined() || request.record_trajectory) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoder '", p.config.decoder().name(), "': an autoencoder decodes z in one step; "
        "x_T, step noise and trajectories do not apply"));
  }
  const int64_t width = p.decoder->latent_dim();
  if (request.latent.defined() &&
      request.latent.sizes() != at::IntArrayRef({request.num, width})) {
    return absl::InvalidArgumentError(absl::StrCat(
        "decoder '", p.config.decoder().name(), "' wants z of shape [", request.num, ", ",
        width, "], got [", absl::StrJoin(request.latent.sizes(), ", "), "]"));
  }
  const bool prior_latent = p.prior != nullptr && !request.latent.defined();
  if (prior_latent) ABSL_RETURN_IF_ERROR(p.prior->PrepareForSampling());
  const at::ScalarType type =
      p.config.sampler().dtype() == FLOAT64 ? at::kDouble : at::kFloat;
  ConvertModule(*p.trained_module(), type);
  at::NoGradGuard no_grad;
  const int64_t chunk = p.config.sampler().batch_size();
  std::vector<at::Tensor> parts;
  try {
    for (int64_t first = 0; first < request.num; first += chunk) {
      const int64_t count = std::min(chunk, request.num - first);
      PhiloxNoise noise(request.seed, request.first_index + first);
      const at::Tensor z =
          request.latent.defined() ? request.latent.slice(0, first, first + count)
          : prior_latent ? p.prior->Sample(count, p.data->sample_shape(), noise).condition.latent
                         : noise.Normal({count, width});
      parts.push_back(p.decoder->Decode(z.to(type)).mean);
      if (request.progress != nullptr) {
        *request.progress << absl::StrFormat("decoded %d/%d", first + count, request.num)
                          << std::endl;
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("sampling failed: ", e.what_without_backtrace()));
  }
  return Generated{at::cat(parts, 0), at::Tensor()};
}

}  // namespace

absl::StatusOr<Generated> Generate(Pipeline& p, const GenerateRequest& request) {
  const std::vector<int64_t> sample_shape = p.data->sample_shape();
  std::vector<int64_t> full_shape{request.num};
  full_shape.insert(full_shape.end(), sample_shape.begin(), sample_shape.end());
  ABSL_RETURN_IF_ERROR(CheckSampleCount(p, request.num, request.record_trajectory, "num"));
  if (p.kind == DescriptionKind::kAutoencoder) return DecodeFromPrior(p, request);
  if (request.x_start.defined() && request.x_start.sizes() != at::IntArrayRef(full_shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "x_T has shape [", absl::StrJoin(request.x_start.sizes(), ", "), "], want [",
        absl::StrJoin(full_shape, ", "), "]"));
  }
  const int64_t steps = static_cast<int64_t>(p.times.size());
  if (request.step_noise.defined()) {
    std::vector<int64_t> want = full_shape;
    want.insert(want.begin(), steps);
    const at::IntArrayRef got = request.step_noise.sizes();
    if (got.size() != want.size() || !(got[0] == steps || got[0] == steps - 1) ||
        got.slice(1) != at::IntArrayRef(want).slice(1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          request.step_noise_source, ": noise has shape [", absl::StrJoin(got, ", "),
          "], want [", absl::StrJoin(want, ", "), "] (one row per step; ", steps - 1,
          " rows when the last step draws none)"));
    }
  }
  const int64_t latent_dim = p.predictor->conditions().latent_dim;
  const bool prior_latent = latent_dim > 0 && !request.latent.defined() &&
                            p.prior->latent_dim() == latent_dim;
  // A text-conditioned predictor's latent is the embedding of each sample's prompt.
  const bool text = p.text_conditioned();
  if (text && (request.latent.defined() || p.config.sampler().prompts_size() == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "predictor '", p.config.predictor().name(), "' is conditioned on text (text_encoder '",
        p.config.text_encoder().name(), "'): ",
        request.latent.defined() ? "its latent comes from the prompts, not from a given z"
                                 : "set sampler.prompts (or --prompt)"));
  }
  if (latent_dim > 0 && !prior_latent && !text &&
      (!request.latent.defined() || request.latent.sizes() != at::IntArrayRef({request.num, latent_dim}))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "predictor '", p.config.predictor().name(), "' is conditioned on a latent: want z of "
        "shape [", request.num, ", ", latent_dim, "]",
        request.latent.defined()
            ? absl::StrCat(", got [", absl::StrJoin(request.latent.sizes(), ", "), "]")
            : std::string(" (from `diffuse encode`, or a prior over z such as "
                          "\"latent_ddim\")")));
  }
  if (p.prior->latent_per_step() && (request.latent.defined() || request.step_noise.defined())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prior '", p.config.prior().name(), "' draws a new z_t at every step (latent_per_step) ",
        request.latent.defined()
            ? "and would replace the given latent; sample without one"
            : absl::StrCat("from the step's noise, which ", request.step_noise_source,
                           " does not hold")));
  }
  ABSL_RETURN_IF_ERROR(p.prior->PrepareForSampling());
  const at::ScalarType type =
      p.config.sampler().dtype() == FLOAT64 ? at::kDouble : at::kFloat;
  if (auto* module = p.trained_module(); module != nullptr) {
    ConvertModule(*module, type);
  }
  const int64_t chunk = p.config.sampler().batch_size();
  std::vector<at::Tensor> parts, labels, images, trajectories, x0_trajectories;
  const auto start = std::chrono::steady_clock::now();
  try {
    for (int64_t first = 0; first < request.num; first += chunk) {
      const int64_t count = std::min(chunk, request.num - first);
      PhiloxNoise noise(request.seed, request.first_index + first);
      PriorSample prior = p.prior->Sample(count, sample_shape, noise);
      if (request.x_start.defined()) {
        prior.x_start = request.x_start.slice(0, first, first + count);
      }
      if (at::isFloatingType(prior.x_start.scalar_type())) prior.x_start = prior.x_start.to(type);
      // A prior that estimates x0 from labelled data (diffused_estimate) supplies the labels
      // its start belongs to; otherwise they come from the sampler options.
      if (!prior.condition.label.defined()) {
        prior.condition.label = p.LabelsFor(request.first_index + first, count);
      }
      if (prior.condition.label.defined()) labels.push_back(prior.condition.label);
      if (prior.condition.image.defined()) images.push_back(prior.condition.image);
      prior.condition.prompt = p.PromptsFor(request.first_index + first, count);
      if (text) {
        if (latent_dim > 0) {
          prior.condition.latent =
              p.prompt_embeddings.index_select(0, prior.condition.prompt).to(type);
          prior.condition.negative_latent =
              p.negative_prompt_embedding.expand({count, latent_dim}).to(type);
        }
        if (p.predictor->conditions().context_dim > 0) {
          Condition& c = prior.condition;
          c.context = p.prompt_tokens.states.index_select(0, c.prompt).to(type);
          c.context_mask = p.prompt_tokens.mask.index_select(0, c.prompt);
          const TextEncoder::TokenStates& negative = p.negative_prompt_tokens;
          c.negative_context = negative.states.expand({count, -1, -1}).to(type);
          c.negative_context_mask = negative.mask.expand({count, -1});
        }
      } else if (latent_dim > 0) {
        prior.condition.latent =
            (prior_latent ? prior.condition.latent
                          : request.latent.slice(0, first, first + count)).to(type);
      }
      std::unique_ptr<StepNoise> step_noise;
      if (request.step_noise.defined()) {
        step_noise = std::make_unique<StepNoise>(
            request.step_noise.slice(1, first, first + count), request.step_noise_source);
      }
      std::vector<at::Tensor> states, x0s;
      StepHook hook;
      if (request.record_trajectory || request.step_hook) {
        hook = [&](StepView& view) {
          if (request.record_trajectory) {
            states.push_back(view.x_t.clone());
            x0s.push_back(view.x0_hat.x0.clone());
          }
          if (request.step_hook) request.step_hook(first, count, view);
        };
      }
      parts.push_back(RunReverseProcess(p.sampling(), prior.x_start, p.times, prior.condition,
                                        step_noise ? *step_noise : static_cast<NoiseSource&>(noise),
                                        hook));
      if (request.record_trajectory) {
        states.push_back(parts.back());
        trajectories.push_back(at::stack(states));
        x0_trajectories.push_back(at::stack(x0s));
      }
      if (request.progress != nullptr) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        *request.progress << absl::StrFormat("sampled %d/%d (%d steps) in %.1f s", first + count,
                                             request.num, p.times.size(), elapsed)
                          << std::endl;
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("sampling failed: ", e.what_without_backtrace()));
  }
  Generated out{at::cat(parts, 0), labels.empty() ? at::Tensor() : at::cat(labels, 0)};
  if (!images.empty()) out.condition_images = at::cat(images, 0);
  if (request.record_trajectory) {
    out.trajectory = at::cat(trajectories, 1);
    out.x0_trajectory = at::cat(x0_trajectories, 1);
  }
  return out;
}

}  // namespace diffuse
