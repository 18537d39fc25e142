// The safetensors reader (sample --checkpoint=W.safetensors).
#include <cstdint>

#include <ATen/Parallel.h>

#include "fuzz/fuzz_support.h"
#include "util/safetensors.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<diffuse::Safetensors> s =
      diffuse::ReadSafetensors(diffuse::WriteFuzzInput(data, size, ".safetensors"));
  return 0;
}
