#include "util/npy.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "util/atomic_file.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
}

TEST(NpyTest, RoundTripsShapeAndValues) {
  NpyArray a{{3, 2}, {1.5f, -2.f, 0.f, 3.25f, 1e-7f, -1e9f}};
  const std::string path = TempPath("round_trip.npy");
  ASSERT_THAT(WriteNpy(path, a), IsOk());
  absl::StatusOr<NpyArray> b = ReadNpy(path);
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->shape, a.shape);
  EXPECT_EQ(b->data, a.data);
}

TEST(NpyTest, Float64RoundTripsExactly) {
  NpyArray a{{2}, {0.1, 1.0 / 3.0}, /*float64=*/true};
  const std::string bytes = EncodeNpy(a);
  EXPECT_NE(bytes.find("'descr': '<f8'"), std::string::npos);
  absl::StatusOr<NpyArray> b = DecodeNpy(bytes, "f8.npy");
  ASSERT_THAT(b, IsOk());
  EXPECT_TRUE(b->float64);
  EXPECT_EQ(b->data, a.data);  // not rounded through float32
  a.float64 = false;
  b = DecodeNpy(EncodeNpy(a), "f4.npy");
  ASSERT_THAT(b, IsOk());
  EXPECT_FALSE(b->float64);
  EXPECT_EQ(b->data[0], static_cast<double>(0.1f));
}

TEST(NpyTest, HeaderIsAlignedAndReadableByNumpyConvention) {
  const std::string bytes = EncodeNpy({{4}, {1, 2, 3, 4}});
  EXPECT_EQ(bytes.substr(1, 5), "NUMPY");
  const size_t header_len = static_cast<unsigned char>(bytes[8]) |
                            (static_cast<unsigned char>(bytes[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  EXPECT_NE(bytes.find("'shape': (4,)"), std::string::npos);
  EXPECT_EQ(bytes.size(), 10 + header_len + 16);
}

TEST(NpyTest, TruncatedPayloadNamesTheFile) {
  std::string bytes = EncodeNpy({{2, 2}, {1, 2, 3, 4}});
  bytes.resize(bytes.size() - 3);
  EXPECT_THAT(DecodeNpy(bytes, "x_T.npy"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("x_T.npy: truncated")));
}

// 2^32 x 2^32 elements wrap a 64-bit count to 0, which an empty payload would match.
TEST(NpyTest, AShapeWhoseElementCountOverflowsIsRefused) {
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }";
  header.resize(118, ' ');
  header += '\n';  // 10 + 118 = 128 bytes, aligned
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) +
                      '\0' + header;  // and no payload
  EXPECT_THAT(DecodeNpy(bytes, "huge.npy"),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("huge.npy: .npy shape (4294967296, 4294967296) has more than "
                                 "2^60 elements")));
}

TEST(NpyTest, RejectsBadMagicWrongDtypeAndMissingFile) {
  EXPECT_THAT(DecodeNpy("hello world, not numpy", "a.npy"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("a.npy")));
  std::string bytes = EncodeNpy({{1}, {1}});
  bytes.replace(bytes.find("<f4"), 3, "<c8");
  EXPECT_THAT(DecodeNpy(bytes, "b.npy"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'<c8'")));
  EXPECT_THAT(ReadNpy(TempPath("does_not_exist.npy")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("does_not_exist.npy")));
}

TEST(AtomicFileTest, FailedWriteLeavesNoFileBehind) {
  const std::string path = TempPath("never_written.bin");
  std::remove(path.c_str());
  absl::Status status = WriteAtomicallyWith(path, [](const std::string& tmp) {
    FILE* f = std::fopen(tmp.c_str(), "wb");
    std::fputs("partial", f);
    std::fclose(f);
    return absl::InternalError("writer failed midway");
  });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInternal, HasSubstr("midway")));
  EXPECT_THAT(ReadFile(path), StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

}  // namespace
}  // namespace diffuse
