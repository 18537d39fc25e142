// The safetensors format (huggingface/safetensors), so weights can be read from Python:
//   8 bytes little-endian N | N bytes of JSON header | raw little-endian tensor data,
// the header mapping each name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// into the data) plus an optional "__metadata__" of string pairs. Float32, float64 and
// int64 tensors; written atomically; every malformed or truncated file is an error naming
// the path.
#ifndef DIFFUSE_UTIL_SAFETENSORS_H_
#define DIFFUSE_UTIL_SAFETENSORS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace diffuse {

struct Safetensors {
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
};

absl::Status WriteSafetensors(const std::string& path, const Safetensors& contents);

absl::StatusOr<Safetensors> ReadSafetensors(const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_SAFETENSORS_H_
