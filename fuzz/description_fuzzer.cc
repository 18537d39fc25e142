// A pipeline description, from text through the builder (every registered component). Inputs
// naming the Fashion-MNIST or tensor-file data are only parsed: loading 60,000 images per
// input would leave no time for anything else.
#include <cstdint>
#include <string>

#include <ATen/Parallel.h>

#include "assembly/builder.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<diffuse::PipelineConfig> config = diffuse::ParsePipelineText(text, "fuzz");
  if (!config.ok()) return 0;
  if (config->data().name() == "fashion_mnist" || config->data().name() == "tensor_file" ||
      config->prior().name() == "latent_ddim") {
    return 0;
  }
  absl::StatusOr<std::unique_ptr<diffuse::Pipeline>> pipeline = diffuse::BuildPipeline(*config);
  return 0;
}
