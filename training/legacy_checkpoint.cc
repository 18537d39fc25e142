#include "training/legacy_checkpoint.h"

#include <map>
#include <sstream>

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>
#include <torch/serialize.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/types.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/atomic_file.h"
#include "util/checksummed.h"

namespace diffuse {
namespace {

constexpr char kFormat[] = "diffuse-checkpoint-v1";  // the archive's "format" entry
constexpr char kHeader[] = "diffuse-checkpoint-v2";  // the file's first word

std::string Shape(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

// The archive inside a v2 file (checked against its header), or the whole of a v1 file.
absl::StatusOr<absl::string_view> Archive(const std::string& path, const std::string& file) {
  if (absl::StartsWith(file, "PK")) return absl::string_view(file);  // v1: a bare zip
  return ChecksummedPayload("checkpoint " + path, file, kHeader);
}

absl::Status OpenArchive(const std::string& path, const std::string& file,
                         torch::serialize::InputArchive* archive) {
  absl::StatusOr<absl::string_view> bytes = Archive(path, file);
  if (!bytes.ok()) return bytes.status();
  try {
    archive->load_from(bytes->data(), bytes->size());
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path,
                                            " is corrupted or truncated: ",
                                            e.what_without_backtrace()));
  } catch (const std::exception& e) {  // TorchScript's parser throws std::runtime_error
    return absl::DataLossError(
        absl::StrCat("checkpoint ", path, " is unreadable: ", e.what()));
  }
  return absl::OkStatus();
}

// module.load() replaces each tensor with the stored one whatever its shape, so a network
// of another width would load "successfully"; compare against the shapes it had before.
absl::Status CheckSameShapes(const std::string& path,
                             const std::map<std::string, std::vector<int64_t>>& before,
                             torch::nn::Module& module) {
  for (const auto& item : module.named_parameters()) {
    const std::vector<int64_t>& want = before.at(item.key());
    if (item.value().sizes().vec() != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint ", path, " does not fit this pipeline's network: parameter '",
          item.key(), "' is ", Shape(item.value()), " there, [", absl::StrJoin(want, ", "),
          "] here"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SaveLegacyCheckpoint(const std::string& path, torch::nn::Module& module,
                                  torch::optim::Optimizer& optimizer, const TrainingState& state) {
  std::ostringstream bytes;
  try {
    torch::serialize::OutputArchive archive;
    archive.write("format", c10::IValue(std::string(kFormat)));
    archive.write("pipeline", c10::IValue(state.pipeline_text));
    archive.write("step", torch::tensor(state.step, torch::kLong));
    archive.write("generator_state", state.generator_state);
    torch::serialize::OutputArchive model, opt, ema;
    module.save(model);
    optimizer.save(opt);
    for (size_t i = 0; i < state.ema.size(); ++i) ema.write(std::to_string(i), state.ema[i]);
    archive.write("model", model);
    archive.write("optimizer", opt);
    archive.write("ema", ema);
    archive.save_to(bytes);
  } catch (const c10::Error& e) {
    return absl::InternalError(
        absl::StrCat("cannot write checkpoint ", path, ": ", e.what_without_backtrace()));
  }
  return WriteFileAtomically(path, WithChecksumHeader(kHeader, bytes.str()));
}

absl::StatusOr<std::string> LegacyPipelineText(const std::string& path) {
  absl::StatusOr<std::string> file = ReadFile(path);
  if (!file.ok()) return file.status();
  torch::serialize::InputArchive archive;
  if (absl::Status opened = OpenArchive(path, *file, &archive); !opened.ok()) return opened;
  try {
    c10::IValue format, text;
    if (!archive.try_read("format", format) || !format.isString() ||
        format.toStringRef() != kFormat || !archive.try_read("pipeline", text) ||
        !text.isString()) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", path, " is not a ", kFormat, " file"));
    }
    return text.toStringRef();
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat("checkpoint ", path, " is unreadable: ", e.what_without_backtrace()));
  }
}

absl::Status LoadLegacyCheckpoint(const std::string& path, torch::nn::Module& module,
                                  torch::optim::Optimizer* optimizer, TrainingState* state) {
  absl::StatusOr<std::string> file = ReadFile(path);
  if (!file.ok()) return file.status();
  torch::serialize::InputArchive archive;
  if (absl::Status opened = OpenArchive(path, *file, &archive); !opened.ok()) return opened;
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& item : module.named_parameters()) shapes[item.key()] = item.value().sizes().vec();
  try {
    c10::IValue format, text;
    if (!archive.try_read("format", format) || !format.isString() ||
        format.toStringRef() != kFormat) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", path, " is not a ", kFormat, " file"));
    }
    archive.read("pipeline", text);
    state->pipeline_text = text.toStringRef();
    at::Tensor step;
    archive.read("step", step);
    state->step = step.item<int64_t>();
    archive.read("generator_state", state->generator_state);
    torch::serialize::InputArchive model, ema;
    archive.read("model", model);
    module.load(model);
    if (absl::Status same = CheckSameShapes(path, shapes, module); !same.ok()) return same;
    if (optimizer != nullptr) {
      torch::serialize::InputArchive opt;
      archive.read("optimizer", opt);
      optimizer->load(opt);
    }
    archive.read("ema", ema);
    state->ema.clear();
    const std::vector<at::Tensor> params = module.parameters();
    // Every parameter's EMA, or none (the eval classifier keeps no EMA).
    for (size_t i = 0; i < params.size(); ++i) {
      at::Tensor t;
      if (!ema.try_read(std::to_string(i), t)) break;
      if (!t.sizes().equals(params[i].sizes())) {
        return absl::InvalidArgumentError(absl::StrCat("checkpoint ", path, ": EMA weight ", i,
                                                       " is ", Shape(t), ", its parameter ",
                                                       Shape(params[i])));
      }
      state->ema.push_back(t);
    }
    if (!state->ema.empty() && state->ema.size() != params.size()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint ", path, " holds ",
                                                     state->ema.size(), " EMA weights for ",
                                                     params.size(), " parameters"));
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", path, " does not fit this pipeline's network: ",
        e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

}  // namespace diffuse
