#include "util/npy.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/atomic_file.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

// Value of `key` in the header dict, e.g. "'descr': '<f4'," -> "'<f4'".
absl::StatusOr<std::string> HeaderField(const std::string& header,
                                        const std::string& key,
                                        const std::string& source) {
  const std::string quoted = absl::StrCat("'", key, "':");
  const size_t at = header.find(quoted);
  if (at == std::string::npos) {
    return absl::DataLossError(
        absl::StrCat(source, ": .npy header has no '", key, "' field"));
  }
  size_t begin = at + quoted.size();
  while (begin < header.size() && header[begin] == ' ') ++begin;
  size_t end = begin;
  if (end < header.size() && header[end] == '(') {
    end = header.find(')', begin);
    if (end == std::string::npos) {
      return absl::DataLossError(absl::StrCat(source, ": bad .npy shape"));
    }
    return header.substr(begin, end - begin + 1);
  }
  end = header.find_first_of(",}", begin);
  return std::string(absl::StripAsciiWhitespace(
      header.substr(begin, end == std::string::npos ? end : end - begin)));
}

}  // namespace

std::string EncodeNpy(const NpyArray& array) {
  std::string shape = absl::StrJoin(array.shape, ", ");
  if (array.shape.size() == 1) shape += ",";
  std::string header = absl::StrCat("{'descr': '", array.float64 ? "<f8" : "<f4",
                                    "', 'fortran_order': False, 'shape': (", shape, "), }");
  // Pad with spaces so that the payload starts at a multiple of 64 bytes.
  const size_t unpadded = kMagicLen + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out(kMagic, kMagicLen);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  if (array.float64) {
    out.append(reinterpret_cast<const char*>(array.data.data()),
               array.data.size() * sizeof(double));
  } else {
    const size_t at = out.size();
    out.resize(at + array.data.size() * sizeof(float));
    for (size_t i = 0; i < array.data.size(); ++i) {
      const float v = static_cast<float>(array.data[i]);
      std::memcpy(&out[at + i * sizeof(float)], &v, sizeof(float));
    }
  }
  return out;
}

absl::StatusOr<NpyArray> DecodeNpy(const std::string& bytes,
                                   const std::string& source) {
  if (bytes.size() < 10 || bytes.compare(0, kMagicLen, kMagic, kMagicLen) != 0) {
    return absl::DataLossError(absl::StrCat(source, ": not a .npy file (bad magic)"));
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) {
      return absl::DataLossError(absl::StrCat(source, ": truncated .npy header"));
    }
    header_len = 0;
    for (int i = 0; i < 4; ++i) {
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    }
    header_start = 12;
  } else {
    return absl::DataLossError(
        absl::StrCat(source, ": unsupported .npy version ", major));
  }
  if (bytes.size() < header_start + header_len) {
    return absl::DataLossError(absl::StrCat(source, ": truncated .npy header"));
  }
  const std::string header = bytes.substr(header_start, header_len);
  ABSL_ASSIGN_OR_RETURN(std::string descr, HeaderField(header, "descr", source));
  ABSL_ASSIGN_OR_RETURN(std::string fortran, HeaderField(header, "fortran_order", source));
  ABSL_ASSIGN_OR_RETURN(std::string shape_text, HeaderField(header, "shape", source));
  if (fortran != "False") {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": fortran_order arrays are not supported"));
  }
  size_t elem_size;
  const bool integer = descr == "'<i4'" || descr == "'<i8'";
  if (descr == "'<f4'" || descr == "'<i4'") {
    elem_size = 4;
  } else if (descr == "'<f8'" || descr == "'<i8'") {
    elem_size = 8;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": dtype ", descr,
        " is not supported (want float32 '<f4', float64 '<f8', int32 '<i4' or int64 '<i8')"));
  }
  NpyArray array;
  int64_t count = 1;
  for (absl::string_view dim : absl::StrSplit(
           absl::StripSuffix(absl::StripPrefix(shape_text, "("), ")"), ',',
           absl::SkipWhitespace())) {
    int64_t d;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(dim), &d) || d < 0) {
      return absl::DataLossError(absl::StrCat(source, ": bad .npy shape ", shape_text));
    }
    // At most 2^60 elements, so that neither the count nor its size in bytes overflows; the
    // payload's size is compared with the file below.
    if (d > 0 && count > (int64_t{1} << 60) / d) {
      return absl::DataLossError(
          absl::StrCat(source, ": .npy shape ", shape_text, " has more than 2^60 elements"));
    }
    array.shape.push_back(d);
    count *= d;
  }
  const size_t payload = header_start + header_len;
  const size_t want = static_cast<size_t>(count) * elem_size;
  if (bytes.size() - payload != want) {
    return absl::DataLossError(absl::StrCat(
        source, ": truncated or oversized .npy payload: ", bytes.size() - payload,
        " bytes for shape ", shape_text, " (want ", want, ")"));
  }
  array.data.resize(count);
  array.float64 = elem_size == 8 && !integer;
  if (integer) {
    for (int64_t i = 0; i < count; ++i) {
      int64_t v = 0;
      if (elem_size == 8) {
        std::memcpy(&v, bytes.data() + payload + 8 * i, 8);
      } else {
        int32_t w;
        std::memcpy(&w, bytes.data() + payload + 4 * i, 4);
        v = w;
      }
      array.data[i] = static_cast<double>(v);
    }
  } else if (array.float64) {
    std::memcpy(array.data.data(), bytes.data() + payload, want);
  } else {
    for (int64_t i = 0; i < count; ++i) {
      float v;
      std::memcpy(&v, bytes.data() + payload + 4 * i, 4);
      array.data[i] = v;
    }
  }
  return array;
}

absl::Status WriteNpy(const std::string& path, const NpyArray& array) {
  return WriteFileAtomically(path, EncodeNpy(array));
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  ABSL_ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return DecodeNpy(bytes, path);
}

}  // namespace diffuse
