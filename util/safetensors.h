// The safetensors format (huggingface/safetensors), so weights can be read from Python:
//   8 bytes little-endian N | N bytes of JSON header | raw little-endian tensor data,
// the header mapping each name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// into the data) plus an optional "__metadata__" of string pairs. Float32, float64, int64
// and uint8 tensors; written atomically; every malformed or truncated file is an error
// naming the path. The reader trusts nothing in the file: every shape and offset is checked
// against the bytes that are there before anything is allocated (fuzz/safetensors_fuzzer).
#ifndef DIFFUSE_UTIL_SAFETENSORS_H_
#define DIFFUSE_UTIL_SAFETENSORS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace diffuse {

struct Safetensors {
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
};

absl::Status WriteSafetensors(const std::string& path, const Safetensors& contents);

absl::StatusOr<Safetensors> ReadSafetensors(const std::string& path);

// The same format in memory (checkpoints embed it after their own header). `what` names
// the source in errors, e.g. "safetensors W.safetensors" or "checkpoint C.pt".
absl::StatusOr<std::string> EncodeSafetensors(const Safetensors& contents,
                                              const std::string& what);
absl::StatusOr<Safetensors> DecodeSafetensors(absl::string_view bytes, const std::string& what);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_SAFETENSORS_H_
