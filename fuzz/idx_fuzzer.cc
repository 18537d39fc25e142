// The IDX reader (Fashion-MNIST's files, plain or gzipped).
#include <cstdint>

#include "data/idx_file.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<diffuse::IdxArray> a =
      diffuse::ReadIdxFile(diffuse::WriteFuzzInput(data, size, ".idx"));
  return 0;
}
