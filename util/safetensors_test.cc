#include "util/safetensors.h"

#include <cstdint>
#include <cstring>

#include <torch/types.h>

#include "gtest/gtest.h"
#include "util/atomic_file.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::string Path(const std::string& name) { return std::string(getenv("TEST_TMPDIR")) + "/" + name; }

TEST(SafetensorsTest, RoundTripsTensorsAndMetadata) {
  Safetensors s;
  s.tensors = {{"net.layer.0.weight", torch::randn({3, 5})},
               {"scalar", torch::tensor(2.5, torch::kFloat64)},
               {"ids", torch::arange(7, torch::kLong)}};
  s.metadata = {{"pipeline", "data { name: \"x\" }\n\tforward {}"}};
  ASSERT_THAT(WriteSafetensors(Path("a.safetensors"), s), IsOk());
  absl::StatusOr<Safetensors> r = ReadSafetensors(Path("a.safetensors"));
  ASSERT_THAT(r.status(), IsOk());
  ASSERT_EQ(r->tensors.size(), 3u);
  for (const auto& [name, t] : s.tensors) {
    bool found = false;
    for (const auto& [n2, t2] : r->tensors) {
      if (n2 == name) {
        found = true;
        EXPECT_EQ(t2.scalar_type(), t.scalar_type());
        EXPECT_TRUE(torch::equal(t2, t)) << name;
      }
    }
    EXPECT_TRUE(found) << name;
  }
  EXPECT_EQ(r->metadata.at("pipeline"), "data { name: \"x\" }\n\tforward {}");
  // The layout: 8-byte length, then a JSON header, data 8-byte aligned.
  const std::string bytes = ReadFile(Path("a.safetensors")).value();
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes[8], '{');
  // Control characters are escaped (strict JSON readers such as Python's refuse them raw).
  EXPECT_EQ(bytes.substr(8, n).find('\n'), std::string::npos);
  EXPECT_EQ(bytes.size(), 8 + n + 15 * 4 + 8 + 7 * 8);  // float32, float64, int64
}

TEST(SafetensorsTest, TruncatedAndMalformedFilesAreNamedErrors) {
  Safetensors s;
  s.tensors = {{"w", torch::randn({100})}};
  ASSERT_THAT(WriteSafetensors(Path("b.safetensors"), s), IsOk());
  const std::string bytes = ReadFile(Path("b.safetensors")).value();
  ASSERT_THAT(WriteFileAtomically(Path("cut.safetensors"), bytes.substr(0, bytes.size() - 10)),
              IsOk());
  EXPECT_THAT(ReadSafetensors(Path("cut.safetensors")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("cut.safetensors: entry 'w'")));
  ASSERT_THAT(WriteFileAtomically(Path("junk.safetensors"), std::string(8, '\x10') + "not json"),
              IsOk());
  EXPECT_THAT(ReadSafetensors(Path("junk.safetensors")),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("junk.safetensors")));
  // Negative, fractional and overflowing shapes in an otherwise intact header.
  for (const std::string shape : {"[-100]", "[2.5, 40]", "[4294967296, 4294967296, 16]"}) {
    std::string edited = bytes;
    edited.replace(edited.find("[100]"), 5, shape + std::string(5 - std::min<size_t>(5, shape.size()), ' '));
    if (shape.size() > 5) {  // a longer header: rewrite its length prefix
      uint64_t n = 0;
      std::memcpy(&n, edited.data(), 8);
      n += shape.size() - 5;
      std::memcpy(edited.data(), &n, 8);
    }
    ASSERT_THAT(WriteFileAtomically(Path("shape.safetensors"), edited), IsOk());
    EXPECT_THAT(ReadSafetensors(Path("shape.safetensors")),
                StatusIs(absl::StatusCode::kDataLoss,
                         HasSubstr("shape.safetensors: entry 'w': shape dimension")))
        << shape;
  }
  EXPECT_THAT(ReadSafetensors(Path("missing.safetensors")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.safetensors")));
}

}  // namespace
}  // namespace diffuse
