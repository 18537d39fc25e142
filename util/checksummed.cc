#include "util/checksummed.h"

#include <zlib.h>

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace diffuse {

uint32_t Crc32(absl::string_view bytes) {
  // crc32_z takes a size_t length; a payload may exceed 4 GiB.
  return static_cast<uint32_t>(crc32_z(crc32(0L, Z_NULL, 0),
                                       reinterpret_cast<const Bytef*>(bytes.data()),
                                       bytes.size()));
}

std::string WithChecksumHeader(absl::string_view format, absl::string_view payload) {
  return absl::StrCat(
      absl::StrFormat("%s crc32=%08x bytes=%d\n", format, Crc32(payload), payload.size()),
      payload);
}

std::string HeaderWord(absl::string_view file) {
  const size_t newline = file.find('\n');
  if (newline == absl::string_view::npos || newline > 128) return "";
  const absl::string_view line = file.substr(0, newline);
  return std::string(line.substr(0, line.find(' ')));
}

absl::StatusOr<absl::string_view> ChecksummedPayload(const std::string& path,
                                                     absl::string_view file,
                                                     absl::string_view format) {
  const size_t newline = file.find('\n');
  unsigned crc = 0;
  uint64_t bytes = 0;
  char word[32] = {0};
  if (HeaderWord(file) != format ||
      std::sscanf(std::string(file.substr(0, newline)).c_str(),
                  "%31s crc32=%8x bytes=%" SCNu64, word, &crc, &bytes) != 3) {
    return absl::DataLossError(
        absl::StrCat(path, " has no valid '", format, " crc32=... bytes=...' header line"));
  }
  const absl::string_view payload = file.substr(newline + 1);
  if (payload.size() != bytes) {
    return absl::DataLossError(absl::StrCat(path, " is ",
                                            payload.size() < bytes ? "truncated" : "too long",
                                            ": ", payload.size(), " bytes after the header, "
                                            "which says ", bytes));
  }
  if (const uint32_t actual = Crc32(payload); actual != crc) {
    return absl::DataLossError(absl::StrFormat(
        "%s is corrupted: CRC-32 %08x, the header says %08x", path, actual, crc));
  }
  return payload;
}

}  // namespace diffuse
