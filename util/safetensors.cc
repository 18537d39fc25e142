#include "util/safetensors.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <numeric>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "util/atomic_file.h"

namespace diffuse {
namespace {

const char* DtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "F32";
    case at::kDouble: return "F64";
    case at::kLong: return "I64";
    case at::kByte: return "U8";
    default: return nullptr;
  }
}

// A JSON string literal (RFC 8259: quote, backslash and control characters escaped).
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

absl::StatusOr<std::string> EncodeSafetensors(const Safetensors& contents,
                                              const std::string& what) {
  std::vector<std::string> entries;
  std::string data;
  for (const auto& [name, tensor] : contents.tensors) {
    const char* dtype = DtypeName(tensor.scalar_type());
    if (dtype == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": tensor '", name, "' has unsupported dtype ",
                       c10::toString(tensor.scalar_type())));
    }
    const at::Tensor c = tensor.detach().contiguous().cpu();
    const size_t begin = data.size(), bytes = c.numel() * c.element_size();
    data.append(static_cast<const char*>(c.data_ptr()), bytes);  // x86-64: little-endian
    entries.push_back(absl::StrCat(JsonString(name), ":{\"dtype\":\"", dtype, "\",\"shape\":[",
                                   absl::StrJoin(c.sizes(), ","), "],\"data_offsets\":[", begin,
                                   ",", begin + bytes, "]}"));
  }
  std::vector<std::string> meta;
  for (const auto& [k, v] : contents.metadata) meta.push_back(JsonString(k) + ":" + JsonString(v));
  if (!meta.empty()) entries.push_back("\"__metadata__\":{" + absl::StrJoin(meta, ",") + "}");
  std::string header = "{" + absl::StrJoin(entries, ",") + "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  std::string file(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  return absl::StrCat(file, header, data);
}

absl::Status WriteSafetensors(const std::string& path, const Safetensors& contents) {
  absl::StatusOr<std::string> bytes = EncodeSafetensors(contents, "safetensors " + path);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<Safetensors> ReadSafetensors(const std::string& path) {
  absl::StatusOr<std::string> file = ReadFile(path);
  if (!file.ok()) return file.status();
  return DecodeSafetensors(*file, "safetensors " + path);
}

absl::StatusOr<Safetensors> DecodeSafetensors(absl::string_view file, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat(what, ": ", why));
  };
  if (file.size() < 8) return bad("shorter than its 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  if (n > file.size() - 8) return bad(absl::StrCat("header length ", n, " exceeds the file"));
  google::protobuf::Struct header;
  if (!google::protobuf::util::JsonStringToMessage(std::string(file.substr(8, n)), &header).ok()) {
    return bad("header is not valid JSON");
  }
  const char* data = file.data() + 8 + n;
  const uint64_t data_size = file.size() - 8 - n;
  Safetensors out;
  std::vector<uint64_t> begins;
  for (const auto& [name, value] : header.fields()) {
    if (name == "__metadata__") {
      for (const auto& [k, v] : value.struct_value().fields()) out.metadata[k] = v.string_value();
      continue;
    }
    const auto& f = value.struct_value().fields();
    if (!f.count("dtype") || !f.count("shape") || !f.count("data_offsets")) {
      return bad(absl::StrCat("entry '", name, "' lacks dtype, shape or data_offsets"));
    }
    const std::string dtype = f.at("dtype").string_value();
    const at::ScalarType type = dtype == "F32"   ? at::kFloat
                                : dtype == "F64" ? at::kDouble
                                : dtype == "I64" ? at::kLong
                                : dtype == "U8"  ? at::kByte
                                                 : at::kBool;
    if (type == at::kBool) return bad(absl::StrCat("entry '", name, "': dtype ", dtype, " unsupported"));
    std::vector<int64_t> shape;
    int64_t numel = 1;
    for (const auto& d : f.at("shape").list_value().values()) {
      const double v = d.number_value();
      // Each dimension a whole number, the product bounded by the data's size (no overflow).
      if (!(v >= 0 && v == std::floor(v) && v <= static_cast<double>(data_size)) ||
          (v > 0 && numel > static_cast<int64_t>(data_size) / static_cast<int64_t>(v))) {
        return bad(absl::StrCat("entry '", name, "': shape dimension ", v,
                                " is negative, fractional or larger than the file"));
      }
      shape.push_back(static_cast<int64_t>(v));
      numel *= shape.back();
    }
    const auto& offsets = f.at("data_offsets").list_value().values();
    if (offsets.size() != 2) return bad(absl::StrCat("entry '", name, "': bad data_offsets"));
    const uint64_t begin = offsets[0].number_value(), end = offsets[1].number_value();
    const uint64_t bytes = numel * c10::elementSize(type);
    if (end < begin || end - begin != bytes || end > data_size) {
      return bad(absl::StrCat("entry '", name, "': data [", begin, ", ", end,
                              ") does not fit its shape or the file (truncated?)"));
    }
    at::Tensor t = at::empty(shape, type);
    std::memcpy(t.data_ptr(), data + begin, bytes);
    out.tensors.emplace_back(name, t);
    begins.push_back(begin);
  }
  // The JSON object is read into a map; restore the order of the data in the file.
  std::vector<size_t> order(out.tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return begins[a] < begins[b]; });
  std::vector<std::pair<std::string, at::Tensor>> sorted;
  for (size_t i : order) sorted.push_back(std::move(out.tensors[i]));
  out.tensors = std::move(sorted);
  return out;
}

}  // namespace diffuse
