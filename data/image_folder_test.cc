#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/tensor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/captioner.h"
#include "data/dataset.h"
#include "data/image_folder.pb.h"
#include "data/image_manifest.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "pipeline/registry.h"
#include "util/atomic_file.h"
#include "util/png.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Folder(const std::string& name) {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/", name);
  mkdir(dir.c_str(), 0755);
  return dir;
}

// A width x height PNG of one colour.
void WriteSolid(const std::string& path, int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage image(width, height, 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) image.Set(x, y, r, g, b);
  }
  ASSERT_THAT(WritePng(path, image), IsOk());
}

absl::StatusOr<std::unique_ptr<Dataset>> Load(const std::string& options) {
  ImageFolderOptions o;
  if (!google::protobuf::TextFormat::ParseFromString(options, &o)) {
    return absl::InvalidArgumentError("bad test options");
  }
  ComponentSpec spec;
  spec.set_name("image_folder");
  spec.mutable_options()->PackFrom(o);
  BuildContext context;
  return Registry<Dataset>::Global().Create(spec, "data", context);
}

// Three emoji-like groups: a red "cat" (two variants), a green "dog", a blue "fish".
std::string WriteEmojiFolder(const std::string& name) {
  const std::string dir = Folder(name);
  WriteSolid(dir + "/cat.png", 16, 16, 255, 0, 0);
  WriteSolid(dir + "/cat_dark.png", 16, 16, 128, 0, 0);
  WriteSolid(dir + "/dog.png", 16, 16, 0, 255, 0);
  WriteSolid(dir + "/fish.png", 24, 16, 0, 0, 255);
  EXPECT_THAT(WriteFileAtomically(dir + "/manifest.jsonl",
                                  R"({"file": "cat.png", "caption": "Cat face", "category": "animal", "base": "cat"}
{"file": "cat_dark.png", "caption": "cat face, dark skin tone", "category": "animal", "base": "cat"}
{"file": "dog.png", "caption": "Dog", "category": "animal", "base": "dog"}
{"file": "fish.png", "caption": "tropical fish", "category": "food", "base": "fish"}
)"),
              IsOk());
  return dir;
}

TEST(ImageFolderTest, DrawsPreparedImagesLabelsAndCaptions) {
  const std::string dir = WriteEmojiFolder("draws");
  absl::StatusOr<std::unique_ptr<Dataset>> data =
      Load(absl::StrCat("manifest: '", dir, "/manifest.jsonl' size: 8 split: ALL ",
                        "label_column: 'category' classes: ['animal', 'food'] caption_column: 'caption'"));
  ASSERT_THAT(data, IsOk());
  EXPECT_EQ((*data)->sample_shape(), (std::vector<int64_t>{3, 8, 8}));
  EXPECT_EQ((*data)->num_classes(), 2);
  ASSERT_NE((*data)->captioner(), nullptr);
  EXPECT_EQ((*data)->captioner()->vocabulary(),
            (std::vector<std::string>{"cat", "dark", "dog", "face", "fish", "skin", "tone", "tropical"}));
  // The examples in manifest order, for evaluation.
  ASSERT_EQ((*data)->num_examples(), 4);
  const DataBatch all = (*data)->Examples(1, 3);
  ASSERT_EQ(all.captions.size(), 3u);
  EXPECT_EQ(absl::StrJoin(all.captions[0], " "), "cat face dark skin tone");
  EXPECT_EQ(all.label[2].item<int64_t>(), 1);
  at::Generator generator = at::detail::createCPUGenerator(1);
  const DataBatch batch = (*data)->Sample(64, generator);
  ASSERT_EQ(batch.captions.size(), 64u);
  for (int64_t i = 0; i < 64; ++i) {
    // Each image is one colour; its caption and label follow it.
    const at::Tensor x = batch.x[i];
    const double r = x[0].mean().item<double>(), g = x[1].mean().item<double>();
    const std::string words = absl::StrJoin(batch.captions[i], " ");
    if (words == "tropical fish") {
      EXPECT_EQ(batch.label[i].item<int64_t>(), 1);
      EXPECT_FLOAT_EQ(x[2].min().item<float>(), 1.0f);
    } else if (words == "dog") {
      EXPECT_FLOAT_EQ(g, 1.0);
    } else if (words == "cat face dark skin tone") {
      EXPECT_NEAR(r, 128 / 127.5 - 1, 1e-6);
    } else {
      EXPECT_EQ(words, "cat face");
      EXPECT_FLOAT_EQ(r, 1.0);
    }
  }
}

// Attribute columns: values sorted over every row, unknown (-1) where the ambiguous column
// names the attribute, carried by Examples and Sample alike.
TEST(ImageFolderTest, ReadsAttributesAndMarksAmbiguousOnesUnknown) {
  const std::string dir = Folder("attributes");
  WriteSolid(dir + "/a.png", 8, 8, 255, 0, 0);
  WriteSolid(dir + "/b.png", 8, 8, 0, 255, 0);
  WriteSolid(dir + "/c.png", 8, 8, 0, 0, 255);
  ASSERT_THAT(WriteFileAtomically(dir + "/m.jsonl",
                                  R"({"file": "a.png", "tone": "3", "style": "twitter", "unclear": ""}
{"file": "b.png", "tone": "none", "style": "google", "unclear": "tone"}
{"file": "c.png", "tone": "1", "style": "google", "unclear": "style, tone"}
)"),
              IsOk());
  absl::StatusOr<std::unique_ptr<Dataset>> data =
      Load(absl::StrCat("manifest: '", dir, "/m.jsonl' size: 8 split: ALL ",
                        "attribute_columns: ['style', 'tone'] ambiguous_column: 'unclear'"));
  ASSERT_THAT(data, IsOk());
  const std::vector<DataAttribute> attributes = (*data)->attributes();
  ASSERT_EQ(attributes.size(), 2u);
  EXPECT_EQ(attributes[0].name, "style");
  EXPECT_EQ(attributes[0].values, (std::vector<std::string>{"google", "twitter"}));
  EXPECT_EQ(attributes[1].values, (std::vector<std::string>{"1", "3", "none"}));
  const DataBatch all = (*data)->Examples(0, 3);
  EXPECT_TRUE(at::equal(all.attributes,
                           at::tensor({1, 1, 0, -1, -1, -1}, at::kLong).view({3, 2})));
  at::Generator generator = at::detail::createCPUGenerator(2);
  const DataBatch batch = (*data)->Sample(16, generator);
  const at::Tensor by_colour = at::tensor({1, 1, 0, -1, -1, -1}, at::kLong).view({3, 2});
  for (int64_t i = 0; i < 16; ++i) {
    const int64_t colour = batch.x[i].mean({1, 2}).argmax().item<int64_t>();  // a, b, c
    EXPECT_TRUE(at::equal(batch.attributes[i], by_colour[colour])) << i;
  }
  EXPECT_THAT(Load(absl::StrCat("manifest: '", dir, "/m.jsonl' attribute_columns: ['shade']")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("option attribute_columns: unknown column 'shade'")));
}

TEST(ImageFolderTest, SplitsByGroupKeepVariantsTogether) {
  const std::string dir = WriteEmojiFolder("splits");
  // test_permille 500: about half the groups; every group lands on exactly one side.
  std::set<std::string> seen[2];
  for (int split = 0; split < 2; ++split) {
    absl::StatusOr<std::unique_ptr<Dataset>> data = Load(absl::StrCat(
        "manifest: '", dir, "/manifest.jsonl' size: 4 group_column: 'base' test_permille: 500 ",
        "caption_column: 'caption' split: ", split == 0 ? "TRAIN" : "TEST"));
    if (!data.ok()) {
      EXPECT_THAT(data.status(), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("split")));
      continue;
    }
    at::Generator generator = at::detail::createCPUGenerator(2);
    for (const auto& words : (*data)->Sample(200, generator).captions) {
      seen[split].insert(words[0]);  // the group: cat, dog, tropical (fish)
    }
  }
  for (const std::string& group : seen[0]) EXPECT_EQ(seen[1].count(group), 0u) << group;
  EXPECT_EQ(seen[0].size() + seen[1].size(), 3u);
}

TEST(ImageFolderTest, CacheIsReusedAndRebuiltWhenAnImageChanges) {
  const std::string dir = WriteEmojiFolder("cache");
  const std::string options =
      absl::StrCat("manifest: '", dir, "/manifest.jsonl' size: 4 split: ALL caption_column: 'caption'");
  ASSERT_THAT(Load(options), IsOk());
  const std::string cache = dir + "/manifest.jsonl.cache-4x3";
  ASSERT_TRUE(FileExists(cache));
  absl::StatusOr<std::string> first = ReadFile(cache);
  ASSERT_THAT(Load(options), IsOk());
  EXPECT_EQ(*ReadFile(cache), *first);
  WriteSolid(dir + "/dog.png", 16, 16, 0, 0, 0);  // the dog turns black
  absl::StatusOr<std::unique_ptr<Dataset>> data = Load(options);
  ASSERT_THAT(data, IsOk());
  EXPECT_NE(*ReadFile(cache), *first);
  at::Generator generator = at::detail::createCPUGenerator(3);
  const DataBatch batch = (*data)->Sample(64, generator);
  for (int64_t i = 0; i < 64; ++i) {
    if (batch.captions[i] == std::vector<std::string>{"dog"}) {
      EXPECT_FLOAT_EQ(batch.x[i].max().item<float>(), -1.0f);
    }
  }
}

TEST(ImageFolderTest, CsvManifestWithQuotedCaptions) {
  const std::string dir = Folder("csv");
  WriteSolid(dir + "/a.png", 4, 4, 10, 20, 30);
  ASSERT_THAT(WriteFileAtomically(dir + "/m.csv", "file,caption,label\na.png,\"woman surfing, medium skin tone\",3\n"),
              IsOk());
  absl::StatusOr<std::unique_ptr<Dataset>> data = Load(absl::StrCat(
      "manifest: '", dir, "/m.csv' size: 4 channels: 1 split: ALL caption_column: 'caption' ",
      "label_column: 'label' num_classes: 4"));
  ASSERT_THAT(data, IsOk());
  at::Generator generator = at::detail::createCPUGenerator(4);
  const DataBatch batch = (*data)->Sample(2, generator);
  EXPECT_EQ(batch.captions[0], (std::vector<std::string>{"woman", "surfing", "medium", "skin", "tone"}));
  EXPECT_EQ(batch.label[0].item<int64_t>(), 3);
  EXPECT_EQ(batch.x.sizes(), (std::vector<int64_t>{2, 1, 4, 4}));
  // ITU-R 601 luma of (10, 20, 30), rounded to 8 bits, in [-1, 1].
  EXPECT_NEAR(batch.x[0][0][0][0].item<float>(),
              std::round(0.299 * 10 + 0.587 * 20 + 0.114 * 30) / 127.5 - 1, 1e-6);
}

TEST(ImageFolderTest, BadInputIsNamed) {
  const std::string dir = WriteEmojiFolder("bad");
  const std::string m = dir + "/manifest.jsonl";
  EXPECT_THAT(Load(absl::StrCat("manifest: '", m, "' caption_column: 'title'")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("option caption_column: unknown column 'title'")));
  EXPECT_THAT(Load(absl::StrCat("manifest: '", m, "' label_column: 'category' classes: ['animal']")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("manifest.jsonl:4: category 'food' is not one of option classes")));
  // A row naming a missing file, then a zero-byte image, each with its line.
  ASSERT_THAT(WriteFileAtomically(dir + "/missing.jsonl",
                                  "{\"file\": \"cat.png\"}\n{\"file\": \"nope.png\"}\n"),
              IsOk());
  EXPECT_THAT(Load(absl::StrCat("manifest: '", dir, "/missing.jsonl'")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("missing.jsonl:2: "), HasSubstr("nope.png"))));
  ASSERT_THAT(WriteFileAtomically(dir + "/empty.png", ""), IsOk());
  ASSERT_THAT(WriteFileAtomically(dir + "/zero.jsonl",
                                  "{\"file\": \"cat.png\"}\n\n{\"file\": \"empty.png\"}\n"),
              IsOk());
  EXPECT_THAT(Load(absl::StrCat("manifest: '", dir, "/zero.jsonl' split: ALL")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("zero.jsonl:3: empty.png: empty file")));
  EXPECT_FALSE(FileExists(dir + "/zero.jsonl.cache-32x3"));
  // skip_unreadable leaves the empty image out.
  absl::StatusOr<std::unique_ptr<Dataset>> skipped =
      Load(absl::StrCat("manifest: '", dir, "/zero.jsonl' split: ALL skip_unreadable: true"));
  ASSERT_THAT(skipped, IsOk());
  ASSERT_THAT(WriteFileAtomically(dir + "/broken.jsonl", "{\"file\": \"cat.png\"}\n{\"file\": \n"),
              IsOk());
  EXPECT_THAT(Load(absl::StrCat("manifest: '", dir, "/broken.jsonl'")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("broken.jsonl:2: not a JSON object")));
  EXPECT_THAT(Load(absl::StrCat("manifest: '", m, "' channels: 2")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("channels = 2 must be 1 or 3")));
}

}  // namespace
}  // namespace diffuse
