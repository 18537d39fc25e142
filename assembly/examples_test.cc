// Every checked-in example description parses, resolves every name and passes the builder
// (a registration that silently went missing from a bundle would fail here).
#include <dirent.h>

#include <string>
#include <vector>

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "assembly/builder.h"
#include "data/image_folder.pb.h"
#include "gtest/gtest.h"
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
// (both styles, a skin-tone variant, every category of the descriptions' classes once).
TEST(ExamplesTest, EmojiExamplesBuildOnASmallImageFolder) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/emoji";
  mkdir(dir.c_str(), 0755);
  const std::vector<std::string> files =
      PbtxtFiles(std::string(getenv("TEST_SRCDIR")) + "/diffuse/pipeline/examples/emoji");
  ASSERT_GE(files.size(), 2u);
  for (const std::string& name : files) {
    absl::StatusOr<PipelineConfig> config = LoadPipelineFile(
        std::string(getenv("TEST_SRCDIR")) + "/diffuse/pipeline/examples/emoji/" + name);
    ASSERT_THAT(config, IsOk()) << name;
    ImageFolderOptions options;
    ASSERT_TRUE(config->data().options().UnpackTo(&options)) << name;
    std::string manifest;
    for (int k = 0; k < options.classes_size(); ++k) {
      for (const char* style : {"google", "twitter"}) {
        RgbImage image(64, 64, static_cast<uint8_t>(20 * k));
        const std::string file = absl::StrCat(style, k, ".png");
        ASSERT_THAT(WritePng(dir + "/" + file, image), IsOk());
        manifest += absl::StrCat("{\"file\": \"", file, "\", \"caption\": \"thing ", k,
                                 ", medium skin tone\", \"category\": \"", options.classes(k),
                                 "\", \"group\": \"g", k, "\", \"style\": \"", style, "\"}\n");
      }
    }
    ASSERT_THAT(WriteFileAtomically(dir + "/manifest.jsonl", manifest), IsOk());
    options.set_manifest(dir + "/manifest.jsonl");
    options.set_split(ImageFolderOptions::ALL);
    config->mutable_data()->mutable_options()->PackFrom(options);
    EXPECT_THAT(BuildPipeline(*config), IsOk()) << name;
  }
}

}  // namespace
}  // namespace diffuse
