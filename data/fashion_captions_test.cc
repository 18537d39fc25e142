#include "data/fashion_captions.h"

#include <torch/types.h>

#include "data/fashion_mnist_files.h"
#include "gtest/gtest.h"

namespace diffuse {
namespace {

// A 4 x 4 image on a black background ([-1, 1] values) with a 2 x 2 square of grey g.
at::Tensor Square(double g) {
  at::Tensor p = torch::zeros({1, 1, 4, 4}, torch::kFloat64);
  p.slice(2, 1, 3).slice(3, 1, 3).fill_(g);
  return p * 2 - 1;
}

TEST(FashionCaptionsTest, AttributesOfASquareInClosedForm) {
  const at::Tensor a = FashionAttributes(Square(0.5));
  // 4 of 16 pixels are ink, all of brightness 0.5; each has Laplacian 4 g - 2 g = 2 g = 1.
  EXPECT_DOUBLE_EQ(a[0][0].item<double>(), 0.25);
  EXPECT_DOUBLE_EQ(a[0][1].item<double>(), 0.5);
  EXPECT_NEAR(a[0][2].item<double>(), 1.0, 1e-12);
  // Pixels at 0.1 and below are background: nothing is ink.
  const at::Tensor none = FashionAttributes(Square(0.09));
  EXPECT_EQ(none[0][0].item<double>(), 0);
  EXPECT_EQ(none[0][1].item<double>(), 0);
}

TEST(FashionCaptionsTest, CaptionIsClassWordAndOneWordPerAttribute) {
  FashionCaptioner captioner;
  // Sandals (5) whose ink covers a quarter of the image (above the sandals' median area,
  // 0.245): one of full brightness, patterned by its edges (texture 2), one dim and plain
  // (texture 0.3).
  const at::Tensor x = torch::cat({Square(1.0), Square(0.15)});
  const auto captions = captioner.Caption(x, torch::tensor({5, 5}, torch::kLong));
  ASSERT_EQ(captions.size(), 2u);
  EXPECT_EQ(captions[0], (std::vector<std::string>{"sandal", "large", "light", "patterned"}));
  EXPECT_EQ(captions[1], (std::vector<std::string>{"sandal", "large", "dark", "plain"}));
  EXPECT_EQ(captioner.vocabulary().size(), 16u);
}

// The stored medians are those of the training files: each attribute word holds about half
// of every class.
TEST(FashionCaptionsTest, MediansSplitEveryClassOfTheTrainingSetInHalves) {
  absl::StatusOr<FashionMnistSplit> train = ReadFashionMnist(kFashionMnistDir, true);
  ASSERT_TRUE(train.ok()) << train.status();
  const at::Tensor x = FashionMnistToFloat(train->images);
  const at::Tensor stats = FashionAttributes(x);
  for (int k = 0; k < 10; ++k) {
    const at::Tensor in_class = stats.index({train->labels.eq(k)});
    for (int a = 0; a < 3; ++a) {
      const double above =
          in_class.select(1, a).gt(kFashionAttributeMedians[k][a]).to(torch::kFloat64).mean()
              .item<double>();
      // area is a multiple of 1/784, so many images tie at its median (stored to 6 digits).
      const double slack = a == 0 ? 0.05 : 0.01;
      EXPECT_NEAR(above, 0.5, slack) << "class " << k << " attribute " << a;
    }
  }
}

}  // namespace
}  // namespace diffuse
