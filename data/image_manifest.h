// The manifest of an image folder: one row per image, as JSON lines (one object per line)
// or CSV with a header row; a column "file" (a path relative to the manifest's directory)
// and any others (caption, label, split, named attributes), every value read as text.
#ifndef DIFFUSE_DATA_IMAGE_MANIFEST_H_
#define DIFFUSE_DATA_IMAGE_MANIFEST_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace diffuse {

struct ImageManifest {
  std::string directory;             // the manifest's folder, where relative files start
  std::vector<std::string> columns;  // every column any row has, "file" first
  struct Row {
    int line = 0;  // 1-based line in the manifest (for errors)
    std::map<std::string, std::string> values;
  };
  std::vector<Row> rows;
  bool has_column(const std::string& name) const;
};

// Parses `text` (from file `path`; ".jsonl" / ".json" are JSON lines, anything else CSV).
// INVALID_ARGUMENT "path:line: why" for a malformed line, a row without "file", a non-scalar
// JSON value, a CSV row of the wrong width, or no rows.
absl::StatusOr<ImageManifest> ParseImageManifest(absl::string_view text, const std::string& path);
absl::StatusOr<ImageManifest> ReadImageManifest(const std::string& path);

// A stable 32-bit hash of `key` (CRC-32): its split does not change between runs, machines
// or releases.
uint32_t StableHash(absl::string_view key);

// A caption's words: runs of lower-case letters, digits and apostrophes
// ("Woman surfing, medium skin tone" -> woman surfing medium skin tone).
std::vector<std::string> CaptionWords(absl::string_view caption);

}  // namespace diffuse

#endif  // DIFFUSE_DATA_IMAGE_MANIFEST_H_
