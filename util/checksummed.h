// A payload behind one checksummed header line, as checkpoints are written:
//   <format word> crc32=<8 hex digits> bytes=<payload size>\n<payload>
// The CRC-32 is zlib's (Python's zlib.crc32), so a flipped byte or a truncated copy is
// caught before anything reads the payload.
#ifndef DIFFUSE_UTIL_CHECKSUMMED_H_
#define DIFFUSE_UTIL_CHECKSUMMED_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace diffuse {

uint32_t Crc32(absl::string_view bytes);

std::string WithChecksumHeader(absl::string_view format, absl::string_view payload);

// The first word of `file`'s header line ("" when it has none, or one longer than 128).
std::string HeaderWord(absl::string_view file);

// The payload of `file` after checking its header against `format`, its length and its
// CRC-32; DATA_LOSS naming `path` and what is wrong otherwise.
absl::StatusOr<absl::string_view> ChecksummedPayload(const std::string& path,
                                                     absl::string_view file,
                                                     absl::string_view format);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_CHECKSUMMED_H_
