// Data "image_folder": see image_folder.proto.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/flip.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/where.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "data/captioner.h"
#include "data/dataset.h"
#include "data/image_folder.pb.h"
#include "data/image_manifest.h"
#include "data/image_preprocess.h"
#include "glog/logging.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/atomic_file.h"
#include "util/checksummed.h"
#include "util/image_decode.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

constexpr char kCacheFormat[] = "diffuse-image-cache-v1";

class StoredCaptions : public Captioner {
 public:
  explicit StoredCaptions(std::vector<std::string> vocabulary)
      : vocabulary_(std::move(vocabulary)) {}
  std::vector<std::string> vocabulary() const override { return vocabulary_; }
  // Captions are the manifest's (DataBatch::captions); none is measured from pixels.
  std::vector<std::vector<std::string>> Caption(const at::Tensor& x,
                                                const at::Tensor&) const override {
    return std::vector<std::vector<std::string>>(x.size(0));
  }

 private:
  std::vector<std::string> vocabulary_;
};

class ImageFolder : public Dataset {
 public:
  ImageFolder(at::Tensor images, at::Tensor labels, int64_t num_classes,
              std::vector<std::vector<std::string>> captions, bool flip,
              std::unique_ptr<Captioner> captioner, std::vector<DataAttribute> attributes,
              at::Tensor attribute_values)
      : images_(std::move(images)), labels_(std::move(labels)), num_classes_(num_classes),
        captions_(std::move(captions)), flip_(flip), captioner_(std::move(captioner)),
        attributes_(std::move(attributes)), attribute_values_(std::move(attribute_values)) {}

  std::vector<int64_t> sample_shape() const override {
    return {images_.size(1), images_.size(2), images_.size(3)};
  }
  int64_t num_classes() const override { return num_classes_; }
  const Captioner* captioner() const override { return captioner_.get(); }

  int64_t num_examples() const override { return images_.size(0); }
  std::vector<DataAttribute> attributes() const override { return attributes_; }
  DataBatch Examples(int64_t first, int64_t count) const override {
    DataBatch out;
    out.x = images_.narrow(0, first, count).to(at::kFloat) / 127.5 - 1;
    if (labels_.defined()) out.label = labels_.narrow(0, first, count);
    if (attribute_values_.defined()) out.attributes = attribute_values_.narrow(0, first, count);
    if (!captions_.empty()) {
      out.captions.assign(captions_.begin() + first, captions_.begin() + first + count);
    }
    return out;
  }

  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    const at::Tensor index = at::randint(0, images_.size(0), {batch}, generator, at::kLong);
    DataBatch out;
    out.x = images_.index_select(0, index).to(at::kFloat) / 127.5 - 1;
    if (flip_) {
      const at::Tensor mirror = at::rand({batch}, generator).lt(0.5).view({-1, 1, 1, 1});
      out.x = at::where(mirror, out.x.flip({3}), out.x);
    }
    if (labels_.defined()) out.label = labels_.index_select(0, index);
    if (attribute_values_.defined()) out.attributes = attribute_values_.index_select(0, index);
    if (!captions_.empty()) {
      const int64_t* i = index.data_ptr<int64_t>();
      for (int64_t b = 0; b < batch; ++b) out.captions.push_back(captions_[i[b]]);
    }
    return out;
  }

 private:
  at::Tensor images_;  // uint8 [N, C, S, S]
  at::Tensor labels_;
  int64_t num_classes_;
  std::vector<std::vector<std::string>> captions_;
  bool flip_;
  std::unique_ptr<Captioner> captioner_;
  std::vector<DataAttribute> attributes_;
  at::Tensor attribute_values_;  // [N, A] int64
};

// Option attribute_columns: each column's distinct values over every row (so that every
// split indexes them alike), sorted; [N, A] indices, -1 where the row's ambiguous_column
// lists the attribute.
void ReadAttributes(const ImageFolderOptions& o, const ImageManifest& manifest,
                    std::vector<DataAttribute>* attributes, std::vector<int64_t>* values) {
  for (const std::string& column : o.attribute_columns()) {
    std::set<std::string> seen;
    for (const ImageManifest::Row& row : manifest.rows) {
      auto it = row.values.find(column);
      seen.insert(it == row.values.end() ? std::string() : it->second);
    }
    attributes->push_back({column, std::vector<std::string>(seen.begin(), seen.end())});
  }
  for (const ImageManifest::Row& row : manifest.rows) {
    std::set<std::string> ambiguous;
    if (auto it = row.values.find(o.ambiguous_column()); it != row.values.end()) {
      for (absl::string_view a : absl::StrSplit(it->second, ',', absl::SkipEmpty())) {
        ambiguous.insert(std::string(absl::StripAsciiWhitespace(a)));
      }
    }
    for (const DataAttribute& a : *attributes) {
      auto it = row.values.find(a.name);
      const std::string value = it == row.values.end() ? std::string() : it->second;
      values->push_back(ambiguous.count(a.name) > 0
                            ? -1
                            : std::lower_bound(a.values.begin(), a.values.end(), value) -
                                  a.values.begin());
    }
  }
}

struct PreparedImages {
  std::vector<uint8_t> pixels;  // [N, C, S, S], round(255 v)
  std::vector<uint8_t> usable;  // [N]: 0 for an image skipped as unreadable
};

// The cache key: the manifest's bytes, the preparation and every image's bytes.
uint32_t CacheKey(const std::string& manifest_text, const ImagePreparation& p,
                  const std::vector<uint32_t>& file_crcs, bool skip_unreadable) {
  std::string key = absl::StrFormat("%s|%d|%d|%.9g,%.9g,%.9g|%d|%d|", manifest_text, p.size,
                                    p.channels, p.background[0], p.background[1],
                                    p.background[2], p.center_crop, skip_unreadable);
  for (uint32_t crc : file_crcs) key += absl::StrFormat("%08x", crc);
  return Crc32(key);
}

// The cached images under `key`, or NOT_FOUND when the cache is absent or stale.
absl::StatusOr<PreparedImages> ReadCache(const std::string& path, uint32_t key, size_t n,
                                         size_t image_bytes) {
  if (!FileExists(path)) return absl::NotFoundError("no cache");
  ABSL_ASSIGN_OR_RETURN(std::string file, ReadFile(path));
  absl::StatusOr<absl::string_view> payload = ChecksummedPayload(path, file, kCacheFormat);
  if (!payload.ok()) return absl::NotFoundError(payload.status().message());
  const std::string head = absl::StrFormat("key=%08x n=%d bytes=%d\n", key, n, image_bytes);
  if (payload->size() != head.size() + n + n * image_bytes ||
      payload->substr(0, head.size()) != head) {
    return absl::NotFoundError("stale cache");
  }
  PreparedImages images;
  const char* data = payload->data() + head.size();
  images.usable.assign(data, data + n);
  images.pixels.assign(data + n, data + n + n * image_bytes);
  return images;
}

absl::StatusOr<PreparedImages> PrepareAll(const ImageManifest& manifest,
                                          const std::string& manifest_path,
                                          const std::vector<std::string>& bytes,
                                          const ImagePreparation& p, bool skip_unreadable) {
  const size_t image_bytes = static_cast<size_t>(p.channels) * p.size * p.size;
  PreparedImages images;
  images.pixels.assign(manifest.rows.size() * image_bytes, 0);
  images.usable.assign(manifest.rows.size(), 1);
  int skipped = 0;
  for (size_t r = 0; r < manifest.rows.size(); ++r) {
    const std::string& file = manifest.rows[r].values.at("file");
    absl::StatusOr<DecodedImage> decoded = DecodeImage(bytes[r], file);
    if (!decoded.ok()) {
      if (skip_unreadable) {
        images.usable[r] = 0;
        ++skipped;
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(manifest_path, ":", manifest.rows[r].line,
                                                     ": ", decoded.status().message()));
    }
    const std::vector<float> prepared = PrepareImage(*decoded, p);
    for (size_t i = 0; i < image_bytes; ++i) {
      images.pixels[r * image_bytes + i] =
          static_cast<uint8_t>(std::lround(std::clamp(prepared[i], 0.0f, 1.0f) * 255));
    }
  }
  if (skipped > 0) LOG(WARNING) << manifest_path << ": skipped " << skipped << " unreadable image(s)";
  return images;
}

absl::Status CheckColumn(const ImageManifest& m, const std::string& path,
                         const std::string& option, const std::string& column) {
  if (column.empty() || m.has_column(column)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("option ", option, ": unknown column '", column,
                                                 "' (", path, " has: ",
                                                 absl::StrJoin(m.columns, ", "), ")"));
}

absl::StatusOr<std::unique_ptr<Dataset>> Make(const ImageFolderOptions& o, const BuildContext&) {
  if (o.manifest().empty()) return absl::InvalidArgumentError("option manifest is required");
  ABSL_RETURN_IF_ERROR(CheckInRange("size", o.size(), 4, 1024));
  if (o.channels() != 1 && o.channels() != 3) {
    return absl::InvalidArgumentError(absl::StrCat("option channels = ", o.channels(), " must be 1 or 3"));
  }
  ABSL_RETURN_IF_ERROR(CheckInRange("test_permille", o.test_permille(), 0, 1000));
  ImagePreparation p;
  p.size = o.size();
  p.channels = o.channels();
  p.center_crop = o.center_crop();
  if (o.background_size() != 0 && o.background_size() != 3) {
    return absl::InvalidArgumentError("option background: give 3 values (R, G, B) in [0, 1]");
  }
  for (int c = 0; c < o.background_size(); ++c) {
    ABSL_RETURN_IF_ERROR(CheckInRange("background", o.background(c), 0, 1));
    p.background[c] = static_cast<float>(o.background(c));
  }
  if (o.classes_size() > 0 && o.num_classes() > 0) {
    return absl::InvalidArgumentError("options classes and num_classes: set one");
  }
  ABSL_RETURN_IF_ERROR(CheckInRange("num_classes", o.num_classes(), 0, 100000));
  if (!o.label_column().empty() && o.classes_size() == 0 && o.num_classes() == 0) {
    return absl::InvalidArgumentError(
        "option label_column needs classes (the label values in order) or num_classes");
  }

  const std::string& path = o.manifest();
  ABSL_ASSIGN_OR_RETURN(std::string manifest_text, ReadFile(path));
  ABSL_ASSIGN_OR_RETURN(ImageManifest manifest, ParseImageManifest(manifest_text, path));
  ABSL_RETURN_IF_ERROR(CheckColumn(manifest, path, "split_column", o.split_column()));
  ABSL_RETURN_IF_ERROR(CheckColumn(manifest, path, "group_column", o.group_column()));
  ABSL_RETURN_IF_ERROR(CheckColumn(manifest, path, "label_column", o.label_column()));
  ABSL_RETURN_IF_ERROR(CheckColumn(manifest, path, "caption_column", o.caption_column()));
  ABSL_RETURN_IF_ERROR(CheckColumn(manifest, path, "ambiguous_column", o.ambiguous_column()));
  for (const std::string& column : o.attribute_columns()) {
    ABSL_RETURN_IF_ERROR(CheckColumn(manifest, path, "attribute_columns", column));
  }

  // Labels, splits and captions, checked row by row before any image is decoded.
  const size_t n = manifest.rows.size();
  std::vector<int64_t> labels(n, 0);
  std::vector<bool> in_split(n, true);
  std::map<std::string, int64_t> class_index;
  for (int k = 0; k < o.classes_size(); ++k) class_index[o.classes(k)] = k;
  for (size_t r = 0; r < n; ++r) {
    const ImageManifest::Row& row = manifest.rows[r];
    auto value = [&](const std::string& column) {
      auto it = row.values.find(column);
      return it == row.values.end() ? std::string() : it->second;
    };
    auto bad = [&](const std::string& why) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", row.line, ": ", why));
    };
    if (!o.label_column().empty()) {
      const std::string label = value(o.label_column());
      int64_t k = -1;
      if (o.classes_size() > 0) {
        if (auto it = class_index.find(label); it != class_index.end()) k = it->second;
      } else if (!absl::SimpleAtoi(label, &k) || k < 0 || k >= o.num_classes()) {
        k = -1;
      }
      if (k < 0) {
        return bad(absl::StrCat(o.label_column(), " '", label, "' is not ",
                                o.classes_size() > 0 ? "one of option classes"
                                                     : absl::StrCat("an integer in [0, ", o.num_classes(), ")")));
      }
      labels[r] = k;
    }
    bool test = false;
    if (!o.split_column().empty()) {
      const std::string split = absl::AsciiStrToLower(value(o.split_column()));
      if (split != "train" && split != "test") {
        return bad(absl::StrCat(o.split_column(), " '", split, "' must be train or test"));
      }
      test = split == "test";
    } else {
      const std::string key = o.group_column().empty() ? value("file") : value(o.group_column());
      test = StableHash(key) % 1000 < static_cast<uint32_t>(o.test_permille());
    }
    in_split[r] = o.split() == ImageFolderOptions::ALL ||
                  test == (o.split() == ImageFolderOptions::TEST);
  }

  // Every image's bytes (a missing file is named with its manifest line), the cache key.
  std::vector<std::string> bytes(n);
  std::vector<uint32_t> crcs(n);
  for (size_t r = 0; r < n; ++r) {
    const std::string file = manifest.directory + "/" + manifest.rows[r].values.at("file");
    absl::StatusOr<std::string> read = ReadFile(file);
    if (!read.ok() && !o.skip_unreadable()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", manifest.rows[r].line, ": ", read.status().message()));
    }
    if (read.ok()) bytes[r] = std::move(*read);
    crcs[r] = Crc32(bytes[r]);
  }
  const uint32_t key = CacheKey(manifest_text, p, crcs, o.skip_unreadable());
  const size_t image_bytes = static_cast<size_t>(p.channels) * p.size * p.size;
  const std::string cache = absl::StrCat(path, ".cache-", p.size, "x", p.channels);
  absl::StatusOr<PreparedImages> images = ReadCache(cache, key, n, image_bytes);
  if (!images.ok()) {
    ABSL_ASSIGN_OR_RETURN(images, PrepareAll(manifest, path, bytes, p, o.skip_unreadable()));
    std::string payload = absl::StrFormat("key=%08x n=%d bytes=%d\n", key, n, image_bytes);
    payload.append(images->usable.begin(), images->usable.end());
    payload.append(images->pixels.begin(), images->pixels.end());
    ABSL_RETURN_IF_ERROR(WriteFileAtomically(cache, WithChecksumHeader(kCacheFormat, payload)));
    LOG(INFO) << "prepared " << n << " images of " << path << " into " << cache;
  }

  std::vector<int64_t> keep;
  for (size_t r = 0; r < n; ++r) {
    if (in_split[r] && images->usable[r]) keep.push_back(static_cast<int64_t>(r));
  }
  if (keep.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option split: no usable image of ", path, " is in the ",
        ImageFolderOptions::Split_Name(o.split()), " split"));
  }
  at::Tensor all = at::empty({static_cast<int64_t>(n), p.channels, p.size, p.size}, at::kByte);
  std::memcpy(all.data_ptr<uint8_t>(), images->pixels.data(), images->pixels.size());
  const at::Tensor index = at::tensor(keep, at::kLong);
  at::Tensor label_tensor;
  int64_t num_classes = 0;
  if (!o.label_column().empty()) {
    label_tensor = at::tensor(labels, at::kLong).index_select(0, index);
    num_classes = o.classes_size() > 0 ? o.classes_size() : o.num_classes();
  }
  std::vector<std::vector<std::string>> captions;
  std::unique_ptr<Captioner> captioner;
  if (!o.caption_column().empty()) {
    std::set<std::string> vocabulary;
    for (int64_t r : keep) {
      captions.push_back(CaptionWords(manifest.rows[r].values[o.caption_column()]));
      vocabulary.insert(captions.back().begin(), captions.back().end());
    }
    captioner = std::make_unique<StoredCaptions>(
        std::vector<std::string>(vocabulary.begin(), vocabulary.end()));
  }
  std::vector<DataAttribute> attributes;
  std::vector<int64_t> attribute_values;
  ReadAttributes(o, manifest, &attributes, &attribute_values);
  at::Tensor attribute_tensor;
  if (!attributes.empty()) {
    attribute_tensor = at::tensor(attribute_values, at::kLong)
                           .view({static_cast<int64_t>(n), -1})
                           .index_select(0, index);
  }
  return std::unique_ptr<Dataset>(new ImageFolder(
      all.index_select(0, index), label_tensor, num_classes, std::move(captions),
      o.horizontal_flip(), std::move(captioner), std::move(attributes), attribute_tensor));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "image_folder", ImageFolderOptions, Make);

}  // namespace diffuse
