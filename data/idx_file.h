// IDX files (LeCun's MNIST format, optionally gzipped): a big-endian header of magic
// 0x000008DD (DD = number of dimensions), the dimensions, then unsigned bytes.
#ifndef DIFFUSE_DATA_IDX_FILE_H_
#define DIFFUSE_DATA_IDX_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace diffuse {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // product(dims) bytes
};

// Reads an unsigned-byte IDX file (gzip or plain). NOT_FOUND / DATA_LOSS name the path
// (missing file, bad magic, truncated payload, trailing bytes).
absl::StatusOr<IdxArray> ReadIdxFile(const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_DATA_IDX_FILE_H_
