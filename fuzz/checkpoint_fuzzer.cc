// The checkpoint loader, into the main job's network (the MLP of eight_gaussians_ddim.pbtxt
// with 32 hidden units, as tools/fuzz.sh trains the seed checkpoint). Inputs whose first
// byte is odd are the whole file; the others are a blob given a valid v3 header (its CRC-32
// computed here), so that the safetensors decoder and every check behind the checksum are
// fuzzed too.
#include <cstdint>
#include <memory>
#include <string>

#include <ATen/Parallel.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "assembly/builder.h"
#include "fuzz/fuzz_support.h"
#include "training/checkpoint.h"
#include "util/checksummed.h"

namespace {

diffuse::Pipeline* Network() {
  static std::unique_ptr<diffuse::Pipeline> pipeline = [] {
    auto config = diffuse::ParsePipelineText(R"(
        data { name: "eight_gaussians" }
        forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
          schedule: SIGMOID num_steps: 1000 } } }
        predictor { name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
          parameterization: V hidden: 32 blocks: 3 fourier_features: 32 fourier_scale: 0.25 } } }
        prior { name: "standard_normal" }
        reverse { name: "substitution" })",
                                             "fuzz");
    return std::move(diffuse::BuildPipeline(*config).value());
  }();
  return pipeline.get();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  Network();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  torch::nn::Module& module = *Network()->trained_module();
  torch::optim::Adam optimizer(module.parameters(), torch::optim::AdamOptions(1e-3));
  diffuse::TrainingState state;
  std::string file(reinterpret_cast<const char*>(data), size);
  if (size > 0 && data[0] % 2 == 0) {
    file = diffuse::WithChecksumHeader("diffuse-checkpoint-v3", file.substr(1));
  }
  absl::Status loaded = diffuse::LoadCheckpoint(
      diffuse::WriteFuzzInput(reinterpret_cast<const uint8_t*>(file.data()), file.size(), ".pt"),
      module, &optimizer, &state);
  return 0;
}
