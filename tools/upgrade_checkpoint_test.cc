#include "tools/upgrade_checkpoint.h"

#include <cstdlib>
#include <string>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "pipeline/trained_description.h"
#include "training/checkpoint.h"
#include "training/legacy_checkpoint.h"
#include "assembly/train.h"
#include "util/atomic_file.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr char kPipeline[] = R"(
    data { name: "eight_gaussians" }
    forward { name: "gaussian_vp" }
    predictor { name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
      hidden: 32 blocks: 2 } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
    training { batch_size: 64 seed: 3 steps: 40 checkpoint_every: 20 weight_decay: 0.01 })";

// A v3 checkpoint written by training (AdamW), rewritten as v2 or v1 from the same state
// and upgraded, is the same file byte for byte.
TEST(UpgradeCheckpointTest, AVersion2FileBecomesTheVersion3FileTrainingWrote) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/upgrade");
  std::unique_ptr<Pipeline> p = BuildOrFail(kPipeline);
  ASSERT_THAT(Train(*p, dir, nullptr), IsOk());
  const std::string v3 = CheckpointPath(dir);

  std::unique_ptr<Pipeline> q = BuildOrFail(kPipeline);
  TrainedNetwork network = PrepareTraining(*q->trained_module(), q->config.training());
  TrainingState state;
  ASSERT_THAT(LoadCheckpoint(v3, *network.module, network.optimizer.get(), &state), IsOk());
  const std::string v2 = dir + "/old.pt";
  ASSERT_THAT(SaveLegacyCheckpoint(v2, *network.module, *network.optimizer, state), IsOk());
  ASSERT_EQ(ReadFile(v2).value().rfind("diffuse-checkpoint-v2 ", 0), 0u);

  // v1: the same archive without the header line.
  const std::string v1 = dir + "/older.pt";
  const std::string bytes = ReadFile(v2).value();
  ASSERT_THAT(WriteFileAtomically(v1, bytes.substr(bytes.find('\n') + 1)), IsOk());

  ASSERT_THAT(UpgradeCheckpoint(v2, v2), IsOk());
  EXPECT_EQ(ReadFile(v2).value(), ReadFile(v3).value());
  ASSERT_THAT(UpgradeCheckpoint(v1, dir + "/from_v1.pt"), IsOk());
  EXPECT_EQ(ReadFile(dir + "/from_v1.pt").value(), ReadFile(v3).value());
  EXPECT_THAT(UpgradeCheckpoint(v2, v2),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("is already v3")));
}

TEST(UpgradeCheckpointTest, NotAFileOrNotACheckpointIsNamed) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  EXPECT_THAT(UpgradeCheckpoint(dir + "/missing.pt", dir + "/x.pt"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.pt does not exist")));
  ASSERT_THAT(WriteFileAtomically(dir + "/junk.pt", "diffuse-checkpoint-v2 crc32=0 bytes=3\nabc"),
              IsOk());
  EXPECT_THAT(UpgradeCheckpoint(dir + "/junk.pt", dir + "/x.pt"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("junk.pt is corrupted")));
}

}  // namespace
}  // namespace diffuse
