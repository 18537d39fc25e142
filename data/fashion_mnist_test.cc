#include <cstdio>
#include <fstream>

#include <torch/types.h>

#include "assembly/test_support.h"
#include "data/dataset.h"
#include "data/fashion_mnist_files.h"
#include "data/idx_file.h"
#include "data/fashion_mnist.pb.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kDir[] = "/usr/share/datasets/fashion-mnist";

TEST(FashionMnistTest, TestSplitHasTenBalancedClassesScaledToPlusMinusOne) {
  auto data = CreateOrFail<Dataset>(R"(name: "fashion_mnist" options {
      [type.googleapis.com/diffuse.FashionMnistOptions] { split: TEST } })", BuildContext());
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->sample_shape(), (std::vector<int64_t>{1, 28, 28}));
  EXPECT_EQ(data->num_classes(), 10);
  at::Generator gen = at::detail::createCPUGenerator(0);
  const DataBatch batch = data->Sample(20000, gen);
  EXPECT_EQ(batch.x.sizes(), (std::vector<int64_t>{20000, 1, 28, 28}));
  EXPECT_EQ(batch.x.min().item<float>(), -1.0f);
  EXPECT_EQ(batch.x.max().item<float>(), 1.0f);
  // The test split has exactly 1,000 images per class; uniform draws see ~10% each.
  const at::Tensor counts = torch::bincount(batch.label, {}, 10).to(torch::kFloat64) / 20000;
  EXPECT_LT((counts - 0.1).abs().max().item<double>(), 0.01);
  // The same generator seed draws the same batch.
  at::Generator again = at::detail::createCPUGenerator(0);
  EXPECT_TRUE(torch::equal(data->Sample(20000, again).x, batch.x));
}

TEST(FashionMnistTest, GreyLevelsAreTokensThatDecodeToTheirBinCentres) {
  auto data = CreateOrFail<Dataset>(R"(name: "fashion_mnist" options {
      [type.googleapis.com/diffuse.FashionMnistOptions] { split: TEST grey_levels: 16 } })",
                                    BuildContext());
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->num_token_classes(), 16);
  at::Generator gen = at::detail::createCPUGenerator(0);
  const at::Tensor tokens = data->Sample(2000, gen).x;
  EXPECT_EQ(tokens.scalar_type(), torch::kLong);
  EXPECT_EQ(tokens.min().item<int64_t>(), 0);
  EXPECT_EQ(tokens.max().item<int64_t>(), 15);
  // The same draws as real values: each decoded token is within half a bin (1/16) of the
  // pixel it quantizes, and the boundary values map as floor(v K / 256) says.
  auto real = CreateOrFail<Dataset>(R"(name: "fashion_mnist" options {
      [type.googleapis.com/diffuse.FashionMnistOptions] { split: TEST } })", BuildContext());
  at::Generator again = at::detail::createCPUGenerator(0);
  const at::Tensor x = real->Sample(2000, again).x;
  EXPECT_LE((GreyLevelsToFloat(tokens, 16) - x).abs().max().item<float>(), 1.0f / 16 + 1e-6f);
  // The dataset decodes its own samples that way; real-valued data leaves them alone.
  EXPECT_TRUE(torch::equal(data->Decode(tokens), GreyLevelsToFloat(tokens, 16)));
  EXPECT_TRUE(torch::equal(real->Decode(x), x));
  const at::Tensor v = torch::tensor({0, 15, 16, 255}, torch::kUInt8);
  EXPECT_TRUE(torch::equal(FashionMnistToGreyLevels(v, 16), torch::tensor({0, 0, 1, 15}, torch::kLong)));
  EXPECT_TRUE(torch::allclose(GreyLevelsToFloat(torch::tensor({0, 15}), 16),
                              torch::tensor({-15.0f / 16, 15.0f / 16})));
  ComponentSpec spec;
  spec.set_name("fashion_mnist");
  FashionMnistOptions options;
  options.set_grey_levels(1);
  spec.mutable_options()->PackFrom(options);
  EXPECT_THAT(Registry<Dataset>::Global().Create(spec, "data", BuildContext()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("grey_levels")));
}

TEST(FashionMnistTest, IdxHeaderAndCounts) {
  absl::StatusOr<IdxArray> labels = ReadIdxFile(std::string(kDir) + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_THAT(labels, IsOk());
  EXPECT_EQ(labels->dims, (std::vector<int64_t>{10000}));
}

TEST(FashionMnistTest, MissingOrTruncatedFilesNameThePath) {
  EXPECT_THAT(ReadIdxFile("/nonexistent/train-images-idx3-ubyte.gz"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/train-images")));
  // A truncated copy (plain, not gzipped: gzread reads both).
  absl::StatusOr<IdxArray> full = ReadIdxFile(std::string(kDir) + "/t10k-labels-idx1-ubyte.gz");
  ASSERT_THAT(full, IsOk());
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/t10k-labels-idx1-ubyte.gz";
  {
    std::ofstream out(path, std::ios::binary);
    const unsigned char header[8] = {0, 0, 8, 1, 0, 0, 0x27, 0x10};  // 10,000 labels
    out.write(reinterpret_cast<const char*>(header), 8);
    out.write(reinterpret_cast<const char*>(full->data.data()), 5000);
  }
  EXPECT_THAT(ReadIdxFile(path), StatusIs(absl::StatusCode::kDataLoss,
                                          HasSubstr(path + ": truncated")));
  // Headers declaring a payload beyond 2 GiB (4 dimensions of 2^32 - 1 wrap a 64-bit count)
  // are refused before anything is allocated.
  const std::string huge = std::string(getenv("TEST_TMPDIR")) + "/huge-idx";
  {
    std::ofstream out(huge, std::ios::binary);
    const unsigned char header[4] = {0, 0, 8, 4};
    out.write(reinterpret_cast<const char*>(header), 4);
    for (int d = 0; d < 4; ++d) out.write("\xff\xff\xff\xff", 4);
  }
  EXPECT_THAT(ReadIdxFile(huge),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr(huge + ": dimension 0 = 4294967295"),
                             HasSubstr("larger than 2 GiB"))));
  // Through the dataset: the error names the file and the component.
  ComponentSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "name: \"fashion_mnist\" options { [type.googleapis.com/diffuse.FashionMnistOptions] "
      "{ split: TEST dir: \"" + std::string(getenv("TEST_TMPDIR")) + "\" } }", &spec));
  EXPECT_THAT(Registry<Dataset>::Global().Create(spec, "data", BuildContext()),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("data 'fashion_mnist': cannot open " +
                                 std::string(getenv("TEST_TMPDIR")) + "/t10k-images")));
}

}  // namespace
}  // namespace diffuse
