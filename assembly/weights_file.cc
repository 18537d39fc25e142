#include "assembly/weights_file.h"

#include <map>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/text_format.h"
#include "models/trainable_model.h"
#include "training/checkpoint.h"
#include "training/description_identity.h"
#include "util/safetensors.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

constexpr char kFormat[] = "diffuse-weights-v1";

absl::StatusOr<TrainableModel*> Network(Pipeline& p, const std::string& path) {
  TrainableModel* model = p.predictor->trainable();
  if (model == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", p.config.predictor().name(), "' has no weights (", path, ")"));
  }
  return model;
}

}  // namespace

absl::Status ExportWeights(Pipeline& p, const std::string& checkpoint, const std::string& out,
                           bool ema) {
  absl::StatusOr<TrainableModel*> model = Network(p, checkpoint);
  if (!model.ok()) return model.status();
  TrainingState state;
  torch::nn::Module& module = *p.trained_module();
  absl::Status loaded = LoadCheckpoint(checkpoint, module, nullptr, &state);
  if (!loaded.ok()) return loaded;
  absl::Status same =
      CheckTrainedFrom(checkpoint, state.pipeline_text, p.config, CheckpointUse::kWeights);
  if (!same.ok()) return same;
  if (ema) UseEmaWeights(module, state.ema);
  Safetensors file;
  for (const auto& item : module.named_parameters()) {
    file.tensors.emplace_back(item.key(), item.value().detach());
  }
  // Buffers (e.g. the MLP's Fourier frequencies) too, so a reader can rebuild the network.
  for (const auto& item : module.named_buffers()) {
    file.tensors.emplace_back(item.key(), item.value().detach());
  }
  file.metadata["format"] = kFormat;
  file.metadata["pipeline"] = state.pipeline_text;
  file.metadata["step"] = absl::StrCat(state.step);
  file.metadata["weights"] = ema ? "ema" : "trained";
  return WriteSafetensors(out, file);
}

absl::Status ImportWeights(Pipeline& p, const std::string& path) {
  absl::StatusOr<TrainableModel*> model = Network(p, path);
  if (!model.ok()) return model.status();
  absl::StatusOr<Safetensors> file = ReadSafetensors(path);
  if (!file.ok()) return file.status();
  // Files this toolkit exported name their description; others (written in Python) are
  // checked by parameter and buffer name and shape only.
  if (auto it = file->metadata.find("pipeline"); it != file->metadata.end()) {
    absl::Status same = CheckTrainedFrom(path, it->second, p.config, CheckpointUse::kWeights);
    if (!same.ok()) return same;
  }
  std::map<std::string, at::Tensor> by_name(file->tensors.begin(), file->tensors.end());
  torch::nn::Module& module = *p.trained_module();
  at::NoGradGuard no_grad;
  // A buffer's value follows from the description (a seed, an option): a file this toolkit
  // exported before buffers were exported keeps the one just built; a file written
  // elsewhere must carry it (its B need not be the one drawn here).
  const bool ours = file->metadata.count("pipeline") > 0;
  auto copy = [&](const char* kind, const auto& named, bool may_lack) -> absl::Status {
    for (const auto& item : named) {
      auto it = by_name.find(item.key());
      if (it == by_name.end() && may_lack) continue;
      if (it == by_name.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("weights ", path, " lack ", kind, " '", item.key(), "'"));
      }
      if (it->second.sizes() != item.value().sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "weights ", path, ": ", kind, " '", item.key(), "' has shape [",
            absl::StrJoin(it->second.sizes(), ", "), "], the network wants [",
            absl::StrJoin(item.value().sizes(), ", "), "]"));
      }
      item.value().copy_(it->second);
    }
    return absl::OkStatus();
  };
  ABSL_RETURN_IF_ERROR(copy("parameter", module.named_parameters(), /*may_lack=*/false));
  ABSL_RETURN_IF_ERROR(copy("buffer", module.named_buffers(), /*may_lack=*/ours));
  module.eval();
  return absl::OkStatus();
}

}  // namespace diffuse
