// Every checked-in example description parses, resolves every name and passes the builder
// (a registration that silently went missing from a bundle would fail here).
#include <dirent.h>

#include <string>
#include <vector>

#include "assembly/builder.h"
#include "gtest/gtest.h"
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

}  // namespace
}  // namespace diffuse
