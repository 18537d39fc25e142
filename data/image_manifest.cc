#include "data/image_manifest.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "util/atomic_file.h"
#include "util/checksummed.h"

namespace diffuse {
namespace {

// One CSV record (RFC 4180 quoting: "a, b" and "" inside quotes), or an error.
absl::StatusOr<std::vector<std::string>> SplitCsv(absl::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"' && fields.back().empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) return absl::InvalidArgumentError("unterminated quoted field");
  return fields;
}

std::string ScalarText(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kStringValue: return v.string_value();
    case google::protobuf::Value::kBoolValue: return v.bool_value() ? "true" : "false";
    case google::protobuf::Value::kNumberValue: {
      const double d = v.number_value();
      if (d == std::floor(d) && std::fabs(d) < 1e15) return absl::StrCat(static_cast<int64_t>(d));
      return absl::StrCat(d);
    }
    default: return "";
  }
}

}  // namespace

bool ImageManifest::has_column(const std::string& name) const {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

uint32_t StableHash(absl::string_view key) { return Crc32(key); }

absl::StatusOr<ImageManifest> ParseImageManifest(absl::string_view text, const std::string& path) {
  ImageManifest manifest;
  const size_t slash = path.rfind('/');
  manifest.directory = slash == std::string::npos ? "." : path.substr(0, slash);
  manifest.columns = {"file"};
  auto bad = [&](int line, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", why));
  };
  const bool json = absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".json");
  std::vector<std::string> header;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripSuffix(line, "\r");
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ImageManifest::Row row;
    row.line = line_number;
    if (json) {
      google::protobuf::Struct object;
      if (!google::protobuf::util::JsonStringToMessage(std::string(line), &object).ok()) {
        return bad(line_number, "not a JSON object");
      }
      for (const auto& [key, value] : object.fields()) {
        if (value.kind_case() == google::protobuf::Value::kStructValue ||
            value.kind_case() == google::protobuf::Value::kListValue) {
          return bad(line_number, absl::StrCat("column '", key, "' is not a string or number"));
        }
        row.values[key] = ScalarText(value);
      }
    } else {
      absl::StatusOr<std::vector<std::string>> fields = SplitCsv(line);
      if (!fields.ok()) return bad(line_number, std::string(fields.status().message()));
      if (header.empty()) {
        header = *fields;
        if (std::find(header.begin(), header.end(), "file") == header.end()) {
          return bad(line_number, "the CSV header has no 'file' column");
        }
        continue;
      }
      if (fields->size() != header.size()) {
        return bad(line_number, absl::StrCat(fields->size(), " fields; the header has ",
                                             header.size()));
      }
      for (size_t i = 0; i < header.size(); ++i) row.values[header[i]] = (*fields)[i];
    }
    if (row.values["file"].empty()) return bad(line_number, "no 'file'");
    for (const auto& [key, value] : row.values) {
      if (!manifest.has_column(key)) manifest.columns.push_back(key);
    }
    manifest.rows.push_back(std::move(row));
  }
  if (manifest.rows.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": the manifest lists no images"));
  }
  return manifest;
}

absl::StatusOr<ImageManifest> ReadImageManifest(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseImageManifest(*text, path);
}

}  // namespace diffuse

namespace diffuse {

std::vector<std::string> CaptionWords(absl::string_view caption) {
  std::vector<std::string> words;
  std::string word;
  for (char c : absl::AsciiStrToLower(caption)) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '\'') {
      word += c;
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

}  // namespace diffuse
