#include "util/npz.h"

#include "gtest/gtest.h"
#include "util/atomic_file.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// util/testdata/mixture*.npz were written by numpy 1.24's savez and savez_compressed:
//   means=[[0,0,1],[2,-1,0.5]], covariances [2,3,3], weights=[0.25,0.75], labels=int64 [0,1].
TEST(NpzTest, ReadsNumpySavezStoredAndCompressed) {
  for (const char* path : {"util/testdata/mixture.npz", "util/testdata/mixture_compressed.npz"}) {
    absl::StatusOr<std::map<std::string, NpyArray>> npz = ReadNpz(path);
    ASSERT_THAT(npz, IsOk()) << path;
    ASSERT_EQ(npz->size(), 4u);
    const NpyArray& means = npz->at("means");
    EXPECT_THAT(means.shape, ElementsAre(2, 3));
    EXPECT_THAT(means.data, ElementsAre(0, 0, 1, 2, -1, 0.5));
    EXPECT_TRUE(means.float64);
    EXPECT_THAT(npz->at("covariances").shape, ElementsAre(2, 3, 3));
    EXPECT_EQ(npz->at("covariances").data[1], 0.3);
    EXPECT_THAT(npz->at("weights").data, ElementsAre(0.25, 0.75));
    EXPECT_THAT(npz->at("labels").data, ElementsAre(0, 1));
  }
}

TEST(NpzTest, TruncatedOrForeignFilesNameTheFile) {
  absl::StatusOr<std::string> bytes = ReadFile("util/testdata/mixture.npz");
  ASSERT_THAT(bytes, IsOk());
  EXPECT_THAT(DecodeNpz(bytes->substr(0, bytes->size() / 2), "half.npz"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("half.npz")));
  std::string flipped = *bytes;
  flipped[200] ^= 0x5a;  // inside the first member's values: its CRC-32 no longer matches
  EXPECT_THAT(DecodeNpz(flipped, "flipped.npz"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("CRC")));
  EXPECT_THAT(DecodeNpz("plain text", "text.npz"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("text.npz")));
}

}  // namespace
}  // namespace diffuse
