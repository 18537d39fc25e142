#include "training/checkpoint.h"

#include <sys/stat.h>

#include <torch/serialize.h>
#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "util/atomic_file.h"

namespace diffuse {
namespace {

constexpr char kFormat[] = "diffuse-checkpoint-v1";

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer& optimizer, const TrainingState& state) {
  return WriteAtomicallyWith(path, [&](const std::string& tmp) -> absl::Status {
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
      archive.save_to(tmp);
    } catch (const c10::Error& e) {
      return absl::InternalError(
          absl::StrCat("cannot write checkpoint ", path, ": ", e.what_without_backtrace()));
    }
    return absl::OkStatus();
  });
}

absl::Status LoadCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer* optimizer, TrainingState* state) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", path, " does not exist"));
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path,
                                            " is corrupted or truncated: ",
                                            e.what_without_backtrace()));
  }
  catch (const std::exception& e) {  // TorchScript's parser throws std::runtime_error
    return absl::DataLossError(
        absl::StrCat("checkpoint ", path, " is unreadable: ", e.what()));
  }
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
    if (optimizer != nullptr) {
      torch::serialize::InputArchive opt;
      archive.read("optimizer", opt);
      optimizer->load(opt);
    }
    archive.read("ema", ema);
    state->ema.clear();
    for (size_t i = 0; i < module.parameters().size(); ++i) {
      at::Tensor t;
      if (!ema.try_read(std::to_string(i), t)) break;
      state->ema.push_back(t);
    }
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint ", path, " does not fit this pipeline's predictor: ",
        e.what_without_backtrace()));
  }
  return absl::OkStatus();
}

void UseEmaWeights(torch::nn::Module& module, const std::vector<at::Tensor>& ema) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> params = module.parameters();
  for (size_t i = 0; i < params.size() && i < ema.size(); ++i) params[i].copy_(ema[i]);
}

}  // namespace diffuse
