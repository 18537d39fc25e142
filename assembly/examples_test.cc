// Every checked-in example description parses, resolves every name and passes the builder
// (a registration that silently went missing from a bundle would fail here).
#include <dirent.h>

#include <string>
#include <vector>

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "assembly/builder.h"
#include "assembly/train.h"
#include "data/image_folder.pb.h"
#include "gtest/gtest.h"
#include "models/trained_text_encoder.pb.h"
#include "pipeline/trained_description.h"
#include "util/atomic_file.h"
#include "util/png.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

TEST(ExamplesTest, EveryExampleBuilds) {
  const std::string dir = std::string(getenv("TEST_SRCDIR")) + "/diffuse/pipeline/examples";
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  std::vector<std::string> files;
  while (dirent* entry = readdir(d)) {
    const std::string name = entry->d_name;
    if (name.size() > 6 && name.substr(name.size() - 6) == ".pbtxt") files.push_back(name);
  }
  closedir(d);
  EXPECT_GE(files.size(), 6u);
  for (const std::string& name : files) {
    absl::StatusOr<PipelineConfig> config = LoadPipelineFile(dir + "/" + name);
    ASSERT_THAT(config, IsOk()) << name;
    EXPECT_THAT(BuildPipeline(*config), IsOk()) << name;
  }
}

std::vector<std::string> PbtxtFiles(const std::string& dir) {
  std::vector<std::string> files;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* entry = readdir(d)) {
      const std::string name = entry->d_name;
      if (name.size() > 6 && name.substr(name.size() - 6) == ".pbtxt") files.push_back(name);
    }
    closedir(d);
  }
  return files;
}

// The emoji examples read a fetched manifest; here they read a small folder in its format
// (both styles, a skin-tone variant, every category once, the attribute columns). A
// description reading a trained text encoder reads one trained here for two steps from
// emoji_text_image.pbtxt on the same folder.
TEST(ExamplesTest, EmojiExamplesBuildOnASmallImageFolder) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/emoji";
  mkdir(dir.c_str(), 0755);
  const std::string examples = std::string(getenv("TEST_SRCDIR")) + "/diffuse/pipeline/examples/emoji/";
  const std::vector<std::string> files = PbtxtFiles(examples);
  ASSERT_GE(files.size(), 3u);
  const std::vector<std::string> categories = {
      "Smileys & Emotion", "People & Body", "Component", "Animals & Nature", "Food & Drink",
      "Travel & Places", "Activities", "Objects", "Symbols", "Flags"};
  std::string manifest;
  for (size_t k = 0; k < categories.size(); ++k) {
    for (const char* style : {"google", "twitter"}) {
      RgbImage image(64, 64, static_cast<uint8_t>(20 * k));
      const std::string file = absl::StrCat(style, k, ".png");
      ASSERT_THAT(WritePng(dir + "/" + file, image), IsOk());
      manifest += absl::StrCat(
          "{\"file\": \"", file, "\", \"caption\": \"thing ", k, ", medium skin tone, ", style,
          " style\", \"category\": \"", categories[k], "\", \"group\": \"g", k,
          "\", \"style\": \"", style, "\", \"skin_tone\": \"3\", \"gender\": \"none\", "
          "\"ambiguous\": \"\"}\n");
    }
  }
  ASSERT_THAT(WriteFileAtomically(dir + "/manifest.jsonl", manifest), IsOk());
  auto load = [&](const std::string& name) -> absl::StatusOr<PipelineConfig> {
    absl::StatusOr<PipelineConfig> config = LoadPipelineFile(examples + name);
    if (!config.ok()) return config;
    ImageFolderOptions options;
    if (!config->data().options().UnpackTo(&options)) return absl::InternalError("not an image folder");
    options.set_manifest(dir + "/manifest.jsonl");
    options.set_split(ImageFolderOptions::ALL);
    config->mutable_data()->mutable_options()->PackFrom(options);
    return config;
  };
  absl::StatusOr<PipelineConfig> text_image = load("emoji_text_image.pbtxt");
  ASSERT_THAT(text_image, IsOk());
  text_image->mutable_training()->set_steps(2);
  text_image->mutable_training()->set_batch_size(4);
  absl::StatusOr<std::unique_ptr<Pipeline>> clip = BuildPipeline(*text_image);
  ASSERT_THAT(clip, IsOk());
  ASSERT_THAT(Train(**clip, dir + "/text_image", nullptr), IsOk());
  for (const std::string& name : files) {
    absl::StatusOr<PipelineConfig> config = load(name);
    ASSERT_THAT(config, IsOk()) << name;
    if (config->text_encoder().name() == "trained_text_encoder") {
      TrainedTextEncoderOptions encoder;
      encoder.set_checkpoint(CheckpointPath(dir + "/text_image"));
      config->mutable_text_encoder()->mutable_options()->PackFrom(encoder);
    }
    EXPECT_THAT(BuildPipeline(*config), IsOk()) << name;
  }
}

}  // namespace
}  // namespace diffuse
