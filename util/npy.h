// NumPy .npy files (format version 1.0, little-endian float32 or float64, C order), so
// Python users can `numpy.load` what we write and hand us starting states and noise.
#ifndef DIFFUSE_UTIL_NPY_H_
#define DIFFUSE_UTIL_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace diffuse {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<double> data;  // row-major, size == product(shape)
  bool float64 = false;      // '<f8' (else '<f4'): as read, and how EncodeNpy writes
};

// Serializes `array` into .npy bytes.
std::string EncodeNpy(const NpyArray& array);

// Parses .npy bytes; `source` names the file in errors. Accepts '<f4' and '<f8' (values
// kept exactly), and '<i4' / '<i8' (labels; as float32 arrays). Rejects Fortran order,
// other dtypes and truncated payloads.
absl::StatusOr<NpyArray> DecodeNpy(const std::string& bytes,
                                   const std::string& source);

// Atomic write (temp file + rename) and read of a .npy file.
absl::Status WriteNpy(const std::string& path, const NpyArray& array);
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_NPY_H_
