#include "tools/import_scheduler.h"

#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "forward/gaussian_vp.h"
#include "forward/gaussian_vp.pb.h"
#include "reverse/dpmpp_multistep.pb.h"
#include "reverse/partial_substitution.pb.h"
#include "reverse/unipc.pb.h"
#include "reverse/churn.pb.h"
#include "reverse/time_grid.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// The config's keys; each read marks its key used, and CheckAllUsed() refuses the rest.
class Keys {
 public:
  Keys(const Struct& s, std::string source, std::string cls)
      : s_(s), source_(std::move(source)), cls_(std::move(cls)) {}

  absl::Status Error(const std::string& key, const std::string& why) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": key '", key, "': ", why));
  }
  const Value* Get(const std::string& key) {
    used_.insert(key);
    auto it = s_.fields().find(key);
    if (it == s_.fields().end() || it->second.kind_case() == Value::kNullValue) return nullptr;
    return &it->second;
  }
  absl::StatusOr<double> Number(const std::string& key, double fallback) {
    const Value* v = Get(key);
    if (v == nullptr) return fallback;
    if (v->kind_case() == Value::kNumberValue) return v->number_value();
    if (v->kind_case() == Value::kStringValue) {  // -Infinity, as Python's json writes it
      if (v->string_value() == "-Infinity") return -std::numeric_limits<double>::infinity();
      if (v->string_value() == "Infinity") return std::numeric_limits<double>::infinity();
    }
    return Error(key, "want a number");
  }
  absl::StatusOr<std::string> String(const std::string& key, const std::string& fallback) {
    const Value* v = Get(key);
    if (v == nullptr) return fallback;
    if (v->kind_case() != Value::kStringValue) return Error(key, "want a string");
    return v->string_value();
  }
  absl::StatusOr<bool> Bool(const std::string& key, bool fallback) {
    const Value* v = Get(key);
    if (v == nullptr) return fallback;
    if (v->kind_case() != Value::kBoolValue) return Error(key, "want true or false");
    return v->bool_value();
  }
  // Keys accepted only at the value that changes nothing here.
  absl::Status ExpectString(const std::string& key, const std::string& fallback,
                            const std::set<std::string>& allowed) {
    ABSL_ASSIGN_OR_RETURN(std::string v, String(key, fallback));
    if (allowed.count(v) == 0) {
      return Error(key, absl::StrCat("\"", v, "\" is not supported for ", cls_, " (supported: ",
                                     absl::StrJoin(allowed, ", "), ")"));
    }
    return absl::OkStatus();
  }
  absl::Status ExpectFalse(const std::string& key) {
    ABSL_ASSIGN_OR_RETURN(bool v, Bool(key, false));
    if (v) return Error(key, absl::StrCat("true is not supported for ", cls_));
    return absl::OkStatus();
  }
  absl::Status ExpectNull(const std::string& key) {
    if (Get(key) != nullptr) return Error(key, absl::StrCat("only null is supported for ", cls_));
    return absl::OkStatus();
  }
  absl::Status CheckAllUsed() const {
    for (const auto& [key, value] : s_.fields()) {
      // Metadata, and PNDM's key that Stable Diffusion's configs carry into every scheduler
      // (diffusers ignores it outside PNDM too).
      if (key.empty() || key[0] == '_' || key == "skip_prk_steps" || used_.count(key) > 0) {
        continue;
      }
      return Error(key, absl::StrCat("not supported for ", cls_));
    }
    return absl::OkStatus();
  }

 private:
  const Struct& s_;
  std::string source_, cls_;
  std::set<std::string> used_;
};

absl::StatusOr<GaussianVpOptions> ForwardOptions(Keys& keys, const std::string& cls) {
  GaussianVpOptions vp;
  ABSL_ASSIGN_OR_RETURN(double steps, keys.Number("num_train_timesteps", 1000));
  ABSL_ASSIGN_OR_RETURN(double beta_start, keys.Number("beta_start", 0.0001));
  ABSL_ASSIGN_OR_RETURN(double beta_end, keys.Number("beta_end", 0.02));
  ABSL_ASSIGN_OR_RETURN(std::string schedule, keys.String("beta_schedule", "linear"));
  ABSL_RETURN_IF_ERROR(keys.ExpectNull("trained_betas"));
  ABSL_ASSIGN_OR_RETURN(bool zero_snr, keys.Bool("rescale_betas_zero_snr", false));
  if (steps != std::floor(steps) || steps < 1 || steps > 100000) {
    return keys.Error("num_train_timesteps", "want an integer in [1, 100000]");
  }
  vp.set_num_steps(static_cast<int>(steps));
  vp.set_beta_start(beta_start);
  vp.set_beta_end(beta_end);
  if (schedule == "linear") {
    vp.set_schedule(GaussianVpOptions::LINEAR);
  } else if (schedule == "scaled_linear") {
    vp.set_schedule(GaussianVpOptions::SCALED_LINEAR);
  } else if (schedule == "squaredcos_cap_v2") {
    vp.set_schedule(GaussianVpOptions::COSINE);  // offset 0.008, max_beta 0.999: the defaults
  } else {
    return keys.Error("beta_schedule", absl::StrCat("\"", schedule,
                                                    "\" is not supported (linear, scaled_linear, "
                                                    "squaredcos_cap_v2)"));
  }
  if (zero_snr && cls == "EulerDiscreteScheduler") {
    // Euler replaces alpha_bar_T = 0 by 2^-24 so that its first sigma is finite.
    return keys.Error("rescale_betas_zero_snr",
                      "true is not supported for EulerDiscreteScheduler (it sets alpha_bar_T "
                      "to 2^-24, not 0)");
  }
  vp.set_zero_terminal_snr(zero_snr);
  return vp;
}

// clip_sample / thresholding -> sampler.clip_x0 / dynamic_threshold.
absl::Status ClipOptions(Keys& keys, bool has_clip, bool clip_default, SamplerOptions* s) {
  if (has_clip) {
    ABSL_ASSIGN_OR_RETURN(bool clip, keys.Bool("clip_sample", clip_default));
    ABSL_ASSIGN_OR_RETURN(double range, keys.Number("clip_sample_range", 1.0));
    if (clip) s->set_clip_x0(range);
  }
  ABSL_ASSIGN_OR_RETURN(bool threshold, keys.Bool("thresholding", false));
  ABSL_ASSIGN_OR_RETURN(double ratio, keys.Number("dynamic_thresholding_ratio", 0.995));
  ABSL_ASSIGN_OR_RETURN(double max_value, keys.Number("sample_max_value", 1.0));
  if (threshold) {
    if (s->clip_x0() > 0) {
      return keys.Error("thresholding", "true together with clip_sample is not supported");
    }
    s->set_clip_x0(max_value);
    s->set_dynamic_threshold(ratio);
  }
  return absl::OkStatus();
}

absl::StatusOr<TimeGrid> Spacing(Keys& keys, const std::string& fallback,
                                 const std::map<std::string, TimeGrid>& grids) {
  ABSL_ASSIGN_OR_RETURN(std::string spacing, keys.String("timestep_spacing", fallback));
  auto it = grids.find(spacing);
  if (it == grids.end()) {
    std::vector<std::string> names;
    for (const auto& [name, grid] : grids) names.push_back(name);
    return keys.Error("timestep_spacing", absl::StrCat("\"", spacing, "\" is not supported (",
                                                       absl::StrJoin(names, ", "), ")"));
  }
  return it->second;
}

// DDPM and DDIM step from timestep t to t - T // N (0-based; below 0 is the end), not to the
// next grid entry. Reproducible only where the two agree.
absl::Status CheckFixedStride(Keys& keys, const std::vector<double>& times, int64_t T, int n,
                              const std::string& cls) {
  const int64_t stride = T / n;
  for (size_t i = 0; i < times.size(); ++i) {
    const double prev = times[i] - stride;  // ours: 0-based + 1
    const bool last = i + 1 == times.size();
    if (last ? prev >= 1 : prev != times[i + 1]) {
      return keys.Error(
          "timestep_spacing",
          absl::StrCat(cls, " steps from timestep t to t - num_train_timesteps // N = t - ",
                       stride, ", which with this spacing and N = ", n, " is not the next grid "
                       "time (", times[i] - 1, " -> ", prev - 1, " instead of ",
                       last ? std::string("the end") : absl::StrCat(times[i + 1] - 1),
                       "); use \"leading\", or N dividing num_train_timesteps"));
    }
  }
  return absl::OkStatus();
}

// The grid of diffusers' multistep schedulers (DPMSolverMultistep, UniPCMultistep) and the
// keys that shape it: final sigma 0, the spacing or Karras sigmas, and the flow-matching
// keys, accepted where they change nothing (flow_shift acts only with flow sigmas or
// dynamic shifting).
absl::Status MultistepGrid(Keys& keys, int64_t T, int num_steps, double offset,
                           SamplerOptions* sampler, std::vector<std::string>& notes) {
  ABSL_RETURN_IF_ERROR(keys.ExpectString("final_sigmas_type", "zero", {"zero"}));
  ABSL_RETURN_IF_ERROR(keys.ExpectFalse("use_exponential_sigmas"));
  ABSL_RETURN_IF_ERROR(keys.ExpectFalse("use_beta_sigmas"));
  ABSL_RETURN_IF_ERROR(keys.ExpectFalse("use_flow_sigmas"));
  ABSL_RETURN_IF_ERROR(keys.ExpectFalse("use_dynamic_shifting"));
  ABSL_ASSIGN_OR_RETURN(double flow_shift, keys.Number("flow_shift", 1.0));
  keys.Get("time_shift_type");
  if (flow_shift != 1.0) {
    notes.push_back(absl::StrCat("flow_shift ", flow_shift,
                                 " has no effect without use_flow_sigmas"));
  }
  ABSL_ASSIGN_OR_RETURN(bool karras, keys.Bool("use_karras_sigmas", false));
  ABSL_ASSIGN_OR_RETURN(std::string spacing, keys.String("timestep_spacing", "linspace"));
  if (karras) {
    sampler->set_grid(KARRAS);
    notes.push_back("use_karras_sigmas: diffusers rounds the network's time input to an "
                    "integer; here it is the exact time of each Karras sigma");
  } else if (spacing == "linspace") {
    sampler->set_grid(LINSPACE_OPEN);
  } else if (spacing == "trailing") {
    sampler->set_grid(TRAILING);
  } else if (spacing == "leading") {  // (T // (N + 1)) k + steps_offset, k = N..1
    const int64_t ratio = T / (num_steps + 1);
    for (int k = num_steps; k >= 1; --k) sampler->add_timesteps(ratio * k + offset + 1);
  } else {
    return keys.Error("timestep_spacing", absl::StrCat("\"", spacing, "\" is not supported"));
  }
  return absl::OkStatus();
}

template <typename Options>
void SetComponent(ComponentSpec* spec, const std::string& name, const Options& options) {
  spec->set_name(name);
  spec->mutable_options()->PackFrom(options);
}

std::string PredictionNote(const std::string& prediction) {
  const std::string kind = prediction == "epsilon"        ? "EPS"
                           : prediction == "v_prediction" ? "V"
                                                          : "X0";
  return absl::StrCat("prediction_type \"", prediction,
                      "\": the predictor's option parameterization: ", kind);
}

}  // namespace

absl::StatusOr<ImportedScheduler> ImportScheduler(const std::string& json,
                                                  const std::string& source, int num_steps) {
  Struct root;
  // Python's json writes -Infinity / Infinity / NaN bare (lambda_min_clipped); quote them.
  const std::string quoted = absl::StrReplaceAll(
      json, {{": -Infinity", ": \"-Infinity\""}, {": Infinity", ": \"Infinity\""},
             {": NaN", ": \"NaN\""}});
  if (const auto s = google::protobuf::util::JsonStringToMessage(quoted, &root); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a JSON object: ", std::string(s.message())));
  }
  auto cls_it = root.fields().find("_class_name");
  if (cls_it == root.fields().end() || cls_it->second.kind_case() != Value::kStringValue) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no \"_class_name\""));
  }
  const std::string cls = cls_it->second.string_value();
  Keys keys(root, source, cls);
  ImportedScheduler out;
  std::vector<std::string> notes = {absl::StrCat("imported from ", source, " (", cls, "), ",
                                                 num_steps, " steps")};
  ABSL_ASSIGN_OR_RETURN(GaussianVpOptions vp, ForwardOptions(keys, cls));
  ABSL_ASSIGN_OR_RETURN(std::string prediction, keys.String("prediction_type", "epsilon"));
  if (prediction != "epsilon" && prediction != "v_prediction" && prediction != "sample") {
    return keys.Error("prediction_type", absl::StrCat("\"", prediction, "\" is not supported"));
  }
  notes.push_back(PredictionNote(prediction));
  const int64_t T = vp.num_steps();
  if (num_steps < 1 || num_steps > T) {
    return absl::InvalidArgumentError(absl::StrCat("--num_steps = ", num_steps,
                                                   " must be in [1, ", T, "]"));
  }
  SamplerOptions* sampler = out.config.mutable_sampler();
  sampler->set_num_steps(num_steps);
  ABSL_ASSIGN_OR_RETURN(double offset, keys.Number("steps_offset", 0));
  const bool ddim = cls == "DDIMScheduler";
  if (cls == "DDPMScheduler" || ddim) {
    ABSL_ASSIGN_OR_RETURN(TimeGrid grid, Spacing(keys, "leading",
                                                 {{"linspace", LINSPACE},
                                                  {"leading", LEADING},
                                                  {"trailing", TRAILING}}));
    sampler->set_grid(grid);
    sampler->set_steps_offset(static_cast<int>(offset));
    ABSL_RETURN_IF_ERROR(ClipOptions(keys, /*has_clip=*/true, /*clip_default=*/true, sampler));
    PartialSubstitutionOptions eta;
    if (ddim) {
      ABSL_ASSIGN_OR_RETURN(bool alpha_one, keys.Bool("set_alpha_to_one", true));
      if (!alpha_one) sampler->set_end_time(1);  // alpha_bar of their timestep 0
      eta.set_eta(0);
      notes.push_back("DDIM's eta (a step() argument) is partial_substitution's option eta");
    } else {
      ABSL_RETURN_IF_ERROR(keys.ExpectString("variance_type", "fixed_small", {"fixed_small"}));
      eta.set_eta(1);  // posterior variance beta_tilde = "fixed_small"
    }
    SetComponent(out.config.mutable_reverse(), "partial_substitution", eta);
    ABSL_ASSIGN_OR_RETURN(std::vector<double> times,
                          MakeTimeGrid(grid, num_steps, sampler->steps_offset(), {true, T}));
    ABSL_RETURN_IF_ERROR(CheckFixedStride(keys, times, T, num_steps, cls));
    if (sampler->end_time() >= times.back()) {
      return keys.Error("set_alpha_to_one",
                        "false with a last timestep of 0 is not supported (the run would end "
                        "where it starts its last step)");
    }
  } else if (cls == "DPMSolverMultistepScheduler") {
    ABSL_ASSIGN_OR_RETURN(std::string algorithm, keys.String("algorithm_type", "dpmsolver++"));
    if (algorithm != "dpmsolver++" && algorithm != "sde-dpmsolver++") {
      return keys.Error("algorithm_type",
                        absl::StrCat("\"", algorithm, "\" is not supported (dpmsolver++, "
                                     "sde-dpmsolver++: the data-prediction solvers)"));
    }
    const bool sde = algorithm == "sde-dpmsolver++";
    ABSL_ASSIGN_OR_RETURN(double order, keys.Number("solver_order", 2));
    if (order != 2 && order != 3) return keys.Error("solver_order", "want 2 or 3");
    ABSL_ASSIGN_OR_RETURN(std::string solver_type, keys.String("solver_type", "midpoint"));
    if (solver_type != "midpoint" && solver_type != "heun") {
      return keys.Error("solver_type", absl::StrCat("\"", solver_type,
                                                    "\" is not supported (midpoint, heun)"));
    }
    ABSL_RETURN_IF_ERROR(keys.ExpectNull("variance_type"));
    ABSL_RETURN_IF_ERROR(keys.ExpectFalse("use_lu_lambdas"));
    // With final sigma 0 the last step is first order whatever euler_at_final says.
    keys.Get("euler_at_final");
    ABSL_ASSIGN_OR_RETURN(bool lower_order_final, keys.Bool("lower_order_final", true));
    ABSL_ASSIGN_OR_RETURN(double lambda_min, keys.Number("lambda_min_clipped", -INFINITY));
    if (std::isfinite(lambda_min)) {
      return keys.Error("lambda_min_clipped", "only -inf is supported");
    }
    ABSL_RETURN_IF_ERROR(ClipOptions(keys, /*has_clip=*/false, false, sampler));
    DpmSolverMultistepOptions dpm;
    if (solver_type == "heun") dpm.set_second_order(DpmSolverMultistepOptions::HEUN);
    if (order == 3) {
      dpm.set_third_order(DpmSolverMultistepOptions::PUBLISHED_CODE);
      dpm.set_lower_order_final(lower_order_final);
      notes.push_back(
          "solver_order 3: third_order PUBLISHED_CODE reproduces diffusers' update, whose "
          "weight of D2 is half the Taylor one (second order as steps shrink); third_order: "
          "TAYLOR is the third-order method");
    }
    if (sde && order == 3) {
      notes.push_back(
          "sde-dpmsolver++ order 3: diffusers (0.32 on) adds alpha_t ((1 - e^{-2h} - 2h) / "
          "(2h)^2 - 1/2) D2, whose -1/2 makes the update first order; this is k-diffusion's "
          "sample_dpmpp_3m_sde update (+1/2) instead, not diffusers' samples");
    }
    if (!sde && order == 2) {
      if (solver_type == "heun") {
        return keys.Error("solver_type", "\"heun\" with dpmsolver++ order 2 is not supported "
                                         "(dpmpp_2m is the midpoint rule)");
      }
      out.config.mutable_reverse()->set_name("dpmpp_2m");
    } else {
      SetComponent(out.config.mutable_reverse(),
                   sde ? (order == 3 ? "dpmpp_3m_sde" : "dpmpp_2m_sde") : "dpmpp_3m", dpm);
    }
    ABSL_RETURN_IF_ERROR(MultistepGrid(keys, T, num_steps, offset, sampler, notes));
  } else if (cls == "UniPCMultistepScheduler") {
    ABSL_ASSIGN_OR_RETURN(double order, keys.Number("solver_order", 2));
    if (order != 1 && order != 2 && order != 3) {
      return keys.Error("solver_order", "want 1, 2 or 3");
    }
    ABSL_ASSIGN_OR_RETURN(bool predict_x0, keys.Bool("predict_x0", true));
    if (!predict_x0) return keys.Error("predict_x0", "only true (the x0 form) is supported");
    ABSL_ASSIGN_OR_RETURN(std::string solver_type, keys.String("solver_type", "bh2"));
    // diffusers maps midpoint / heun / logrho to bh2.
    if (solver_type != "bh1" && solver_type != "bh2" && solver_type != "midpoint" &&
        solver_type != "heun" && solver_type != "logrho") {
      return keys.Error("solver_type", absl::StrCat("\"", solver_type,
                                                    "\" is not supported (bh1, bh2)"));
    }
    ABSL_ASSIGN_OR_RETURN(bool lower_order_final, keys.Bool("lower_order_final", true));
    ABSL_RETURN_IF_ERROR(keys.ExpectNull("solver_p"));
    UniPcOptions unipc;
    unipc.set_order(static_cast<int>(order));
    if (solver_type == "bh1") {
      unipc.set_variant(UniPcOptions::BH1);
      notes.push_back(
          "solver_type bh1: the last step (to sigma = 0) returns x0_hat, where diffusers "
          "computes -inf * 0 = NaN");
    }
    unipc.set_lower_order_final(lower_order_final);
    if (const Value* v = keys.Get("disable_corrector"); v != nullptr) {
      if (v->kind_case() != Value::kListValue) return keys.Error("disable_corrector", "want a list");
      for (const Value& i : v->list_value().values()) {
        if (i.kind_case() != Value::kNumberValue || i.number_value() != std::floor(i.number_value()) ||
            i.number_value() < 0) {
          return keys.Error("disable_corrector", "want non-negative step indices");
        }
        unipc.add_disable_corrector(static_cast<int>(i.number_value()));
      }
    }
    ABSL_RETURN_IF_ERROR(ClipOptions(keys, /*has_clip=*/false, false, sampler));
    SetComponent(out.config.mutable_reverse(), "unipc", unipc);
    ABSL_RETURN_IF_ERROR(MultistepGrid(keys, T, num_steps, offset, sampler, notes));
  } else if (cls == "EulerDiscreteScheduler") {
    ABSL_RETURN_IF_ERROR(keys.ExpectString("interpolation_type", "linear", {"linear"}));
    ABSL_RETURN_IF_ERROR(keys.ExpectString("timestep_type", "discrete", {"discrete"}));
    ABSL_RETURN_IF_ERROR(keys.ExpectString("final_sigmas_type", "zero", {"zero"}));
    ABSL_RETURN_IF_ERROR(keys.ExpectNull("sigma_min"));
    ABSL_RETURN_IF_ERROR(keys.ExpectNull("sigma_max"));
    ABSL_RETURN_IF_ERROR(keys.ExpectFalse("use_exponential_sigmas"));
    ABSL_RETURN_IF_ERROR(keys.ExpectFalse("use_beta_sigmas"));
    vp.set_interpolation(GaussianVpOptions::SIGMA);
    ABSL_ASSIGN_OR_RETURN(bool karras, keys.Bool("use_karras_sigmas", false));
    if (karras) {
      sampler->set_grid(KARRAS);
      notes.push_back("use_karras_sigmas: diffusers rounds the network's time input to an "
                      "integer; here it is the exact time of each Karras sigma");
      keys.Get("timestep_spacing");
    } else {
      ABSL_ASSIGN_OR_RETURN(TimeGrid grid, Spacing(keys, "linspace",
                                                   {{"linspace", LINSPACE_FRACTIONAL},
                                                    {"leading", LEADING},
                                                    {"trailing", TRAILING}}));
      sampler->set_grid(grid);
      sampler->set_steps_offset(static_cast<int>(offset));
    }
    SetComponent(out.config.mutable_reverse(), "euler", KarrasSolverOptions());
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": _class_name \"", cls, "\" is not supported (DDPMScheduler, DDIMScheduler, "
        "DPMSolverMultistepScheduler, UniPCMultistepScheduler, EulerDiscreteScheduler)"));
  }
  if (offset != std::floor(offset) || offset < 0) {
    return keys.Error("steps_offset", "want a non-negative integer");
  }
  ABSL_RETURN_IF_ERROR(keys.CheckAllUsed());
  SetComponent(out.config.mutable_forward(), "gaussian_vp", vp);
  {
    absl::StatusOr<std::unique_ptr<ForwardProcess>> forward = MakeGaussianVp(vp);
    if (!forward.ok()) return keys.Error("beta_start", std::string(forward.status().message()));
    const double alpha_end = (*forward)->gaussian()->Alpha(static_cast<double>(T));
    if (alpha_end > 0.05) {
      notes.push_back(absl::StrCat(
          "alpha(T) = ", alpha_end, ": diffusers starts from N(0, I) regardless; set prior "
          "standard_normal's max_terminal_alpha above it"));
    }
  }
  // The same grid the pipeline builder will make: refuse here what it would refuse there.
  if (sampler->grid() != KARRAS && sampler->timesteps_size() == 0) {
    ABSL_RETURN_IF_ERROR(
        MakeTimeGrid(sampler->grid(), num_steps, sampler->steps_offset(), {true, T}).status());
  }
  google::protobuf::TextFormat::Printer printer;
  printer.SetExpandAny(true);
  std::string body;
  printer.PrintToString(out.config, &body);
  for (const std::string& note : notes) absl::StrAppend(&out.notes, "# ", note, "\n");
  out.text = absl::StrCat(out.notes, body);
  return out;
}

}  // namespace diffuse
