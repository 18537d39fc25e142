// The .npy decoder (every --x_T, --images, --latent, eval --samples).
#include <cstdint>
#include <string>

#include "util/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<diffuse::NpyArray> a =
      diffuse::DecodeNpy(std::string(reinterpret_cast<const char*>(data), size), "fuzz.npy");
  return 0;
}
