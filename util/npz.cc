#include "util/npz.h"

#include <zlib.h>

#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// Little-endian field of `n` bytes at `at`; false when it would read past the end.
bool Field(const std::string& b, size_t at, int n, uint64_t* out) {
  if (at + n > b.size()) return false;
  *out = 0;
  for (int i = 0; i < n; ++i) *out |= static_cast<uint64_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
  return true;
}

constexpr uint32_t kCentralEntry = 0x02014b50, kLocalHeader = 0x04034b50;
constexpr uint32_t kEnd = 0x06054b50, kZip64End = 0x06064b50, kZip64Locator = 0x07064b50;
constexpr uint64_t kMax32 = 0xffffffffu;

absl::StatusOr<std::string> Inflate(const std::string& in, uint64_t size, const std::string& where) {
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return absl::InternalError("zlib inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.total_out != size) {
    return absl::DataLossError(absl::StrCat(where, ": corrupt deflated member"));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::map<std::string, NpyArray>> DecodeNpz(const std::string& b,
                                                          const std::string& source) {
  auto corrupt = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat(source, ": not a readable .npz (", why, ")"));
  };
  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  size_t end = std::string::npos;
  for (size_t i = b.size() >= 22 ? b.size() - 22 : std::string::npos;
       i != std::string::npos && b.size() - i <= 22 + 65535; --i) {
    uint64_t sig;
    if (Field(b, i, 4, &sig) && sig == kEnd) {
      end = i;
      break;
    }
    if (i == 0) break;
  }
  if (end == std::string::npos) return corrupt("no end of central directory");
  uint64_t entries = 0, dir_offset = 0;
  if (!Field(b, end + 10, 2, &entries) || !Field(b, end + 16, 4, &dir_offset)) {
    return corrupt("truncated end record");
  }
  if (entries == 0xffff || dir_offset == kMax32) {
    uint64_t sig = 0, z64 = 0;
    if (end < 20 || !Field(b, end - 20, 4, &sig) || sig != kZip64Locator ||
        !Field(b, end - 20 + 8, 8, &z64) || !Field(b, z64, 4, &sig) || sig != kZip64End ||
        !Field(b, z64 + 32, 8, &entries) || !Field(b, z64 + 48, 8, &dir_offset)) {
      return corrupt("bad zip64 end record");
    }
  }
  std::map<std::string, NpyArray> arrays;
  size_t at = dir_offset;
  for (uint64_t e = 0; e < entries; ++e) {
    uint64_t sig = 0, method = 0, crc = 0, packed = 0, size = 0, name_len = 0, extra_len = 0,
             comment_len = 0, local = 0;
    if (!Field(b, at, 4, &sig) || sig != kCentralEntry || !Field(b, at + 10, 2, &method) ||
        !Field(b, at + 16, 4, &crc) ||
        !Field(b, at + 20, 4, &packed) || !Field(b, at + 24, 4, &size) ||
        !Field(b, at + 28, 2, &name_len) || !Field(b, at + 30, 2, &extra_len) ||
        !Field(b, at + 32, 2, &comment_len) || !Field(b, at + 42, 4, &local) ||
        at + 46 + name_len + extra_len > b.size()) {
      return corrupt("bad central directory entry");
    }
    const std::string name = b.substr(at + 46, name_len);
    // zip64 extra field (id 1): the 32-bit fields that overflowed, in this order.
    for (size_t x = at + 46 + name_len; x + 4 <= at + 46 + name_len + extra_len;) {
      uint64_t id = 0, len = 0;
      Field(b, x, 2, &id);
      Field(b, x + 2, 2, &len);
      if (id == 1) {
        size_t p = x + 4;
        for (uint64_t* v : {&size, &packed, &local}) {
          if (*v == kMax32) {
            if (!Field(b, p, 8, v)) return corrupt("bad zip64 extra field");
            p += 8;
          }
        }
      }
      x += 4 + len;
    }
    at += 46 + name_len + extra_len + comment_len;
    uint64_t local_name = 0, local_extra = 0;
    if (!Field(b, local, 4, &sig) || sig != kLocalHeader || !Field(b, local + 26, 2, &local_name) ||
        !Field(b, local + 28, 2, &local_extra)) {
      return corrupt(absl::StrCat("bad local header of ", name));
    }
    const size_t data = local + 30 + local_name + local_extra;
    if (data + packed > b.size()) return corrupt(absl::StrCat(name, " is truncated"));
    const std::string where = absl::StrCat(source, ":", name);
    std::string npy;
    if (method == 0) {
      npy = b.substr(data, packed);
    } else if (method == 8) {
      ABSL_ASSIGN_OR_RETURN(npy, Inflate(b.substr(data, packed), size, where));
    } else {
      return corrupt(absl::StrCat(name, " uses compression method ", method));
    }
    if (crc32(0L, reinterpret_cast<const Bytef*>(npy.data()), static_cast<uInt>(npy.size())) !=
        crc) {
      return absl::DataLossError(absl::StrCat(where, ": CRC-32 mismatch (corrupt file)"));
    }
    ABSL_ASSIGN_OR_RETURN(NpyArray array, DecodeNpy(npy, where));
    const std::string key =
        absl::EndsWith(name, ".npy") ? name.substr(0, name.size() - 4) : name;
    arrays[key] = std::move(array);
  }
  return arrays;
}

absl::StatusOr<std::map<std::string, NpyArray>> ReadNpz(const std::string& path) {
  ABSL_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return DecodeNpz(bytes, path);
}

}  // namespace diffuse
