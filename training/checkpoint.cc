#include "training/checkpoint.h"

#include <zlib.h>

#include <cinttypes>
#include <cstdio>
#include <map>
#include <sstream>

#include <torch/serialize.h>
#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "util/atomic_file.h"

namespace diffuse {
namespace {

constexpr char kFormat[] = "diffuse-checkpoint-v1";  // the archive's "format" entry
constexpr char kHeader[] = "diffuse-checkpoint-v2";  // the file's first word

uint32_t Crc32(const char* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // crc32_z takes a size_t length; an archive may exceed 4 GiB.
  return static_cast<uint32_t>(crc32_z(crc, reinterpret_cast<const Bytef*>(data), size));
}

std::string Shape(const at::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

// The archive inside a v2 file (checked against its header), or the whole of a v1 file.
absl::StatusOr<absl::string_view> Archive(const std::string& path, const std::string& file) {
  if (absl::StartsWith(file, "PK")) return absl::string_view(file);  // v1: a bare zip
  const size_t newline = file.find('\n');
  unsigned crc = 0;
  uint64_t bytes = 0;
  char word[32] = {0};
  if (newline == std::string::npos || newline > 128 ||
      std::sscanf(file.substr(0, newline).c_str(), "%31s crc32=%8x bytes=%" SCNu64, word, &crc,
                  &bytes) != 3 ||
      std::string(word) != kHeader) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint ", path, " is not a diffuse checkpoint (no '", kHeader, "' header)"));
  }
  const absl::string_view archive = absl::string_view(file).substr(newline + 1);
  if (archive.size() != bytes) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path, " is ",
                                            archive.size() < bytes ? "truncated" : "too long",
                                            ": ", archive.size(), " bytes after the header, "
                                            "which says ", bytes));
  }
  if (const uint32_t actual = Crc32(archive.data(), archive.size()); actual != crc) {
    return absl::DataLossError(absl::StrFormat(
        "checkpoint %s is corrupted: CRC-32 %08x, the header says %08x", path, actual, crc));
  }
  return archive;
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

absl::Status SaveCheckpoint(const std::string& path, torch::nn::Module& module,
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
  const std::string archive = bytes.str();
  return WriteFileAtomically(
      path, absl::StrCat(absl::StrFormat("%s crc32=%08x bytes=%d\n", kHeader,
                                         Crc32(archive.data(), archive.size()), archive.size()),
                         archive));
}

absl::Status LoadCheckpoint(const std::string& path, torch::nn::Module& module,
                            torch::optim::Optimizer* optimizer, TrainingState* state) {
  if (!FileExists(path)) {
    return absl::NotFoundError(absl::StrCat("checkpoint ", path, " does not exist"));
  }
  absl::StatusOr<std::string> file = ReadFile(path);
  if (!file.ok()) return file.status();
  absl::StatusOr<absl::string_view> bytes = Archive(path, *file);
  if (!bytes.ok()) return bytes.status();
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes->data(), bytes->size());
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat("checkpoint ", path,
                                            " is corrupted or truncated: ",
                                            e.what_without_backtrace()));
  }
  catch (const std::exception& e) {  // TorchScript's parser throws std::runtime_error
    return absl::DataLossError(
        absl::StrCat("checkpoint ", path, " is unreadable: ", e.what()));
  }
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

void UseEmaWeights(torch::nn::Module& module, const std::vector<at::Tensor>& ema) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> params = module.parameters();
  for (size_t i = 0; i < params.size() && i < ema.size(); ++i) params[i].copy_(ema[i]);
}

}  // namespace diffuse
