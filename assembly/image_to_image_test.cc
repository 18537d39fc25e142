#include "assembly/image_to_image.h"

#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/tensor.h>
#include <ATen/ops/zeros.h>

#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

// Points on the ring's first mode, (4, 0), and between modes.
at::Tensor Points() {
  return at::tensor({4.0, 0.0, 4.0, 0.0, 0.0, 4.0, 2.8, 2.8, -4.0, 0.1, 0.5, -0.5}, at::kFloat)
      .view({6, 2})
      .repeat({20, 1});
}

TEST(ImageToImageTest, StrengthZeroReturnsTheImages) {
  auto p = BuildOrFail(OracleText().Text());
  ASSERT_NE(p, nullptr);
  absl::StatusOr<Generated> out = ImageToImage(*p, {Points(), 0.0, {}, 3});
  ASSERT_THAT(out, IsOk());
  EXPECT_TRUE(at::equal(out->samples, Points()));
}

TEST(ImageToImageTest, StrengthOneIsOrdinarySamplingFromTheSameNoise) {
  auto p = BuildOrFail(OracleText().Text());
  ASSERT_NE(p, nullptr);
  absl::StatusOr<Generated> out = ImageToImage(*p, {Points(), 1.0, {}, 3});
  ASSERT_THAT(out, IsOk());
  GenerateRequest g;
  g.num = Points().size(0);
  g.seed = 3;
  absl::StatusOr<Generated> sampled = Generate(*p, g);
  ASSERT_THAT(sampled, IsOk());
  EXPECT_TRUE(at::equal(out->samples, sampled->samples));
  EXPECT_EQ(p->times.size(), 50u);  // the grid is restored
}

// SDEdit: the further the images are taken, the further the result moves from them; from
// a mode's centre it stays on the ring.
TEST(ImageToImageTest, ResultsMoveAwayWithStrength) {
  auto p = BuildOrFail(OracleText().Text());
  ASSERT_NE(p, nullptr);
  const at::Tensor x = Points();
  double last = 0;
  for (double s : {0.1, 0.4, 0.8}) {
    absl::StatusOr<Generated> out = ImageToImage(*p, {x, s, {}, 5});
    ASSERT_THAT(out, IsOk());
    const double moved = (out->samples - x).norm(2, 1).mean().item<double>();
    EXPECT_GT(moved, last) << s;
    last = moved;
  }
  // Taken most of the way, every result lands on the ring.
  absl::StatusOr<Generated> far = ImageToImage(*p, {x, 0.8, {}, 5});
  ASSERT_THAT(far, IsOk());
  EXPECT_LT((far->samples.norm(2, 1) - 4).abs().max().item<double>(), 1.5);
}

// Inpainting with the exact oracle: the known x coordinate is kept exactly, and the
// generated y should agree with it: x = 4 belongs to the mode at (4, 0) (the next modes' x is
// 2.83, four standard deviations away). Plain replacement does not harmonize (y is decided
// before the noisy x says much: more than half land at y = +-2.8, the neighbours' height);
// RePaint's resampling moves many of them back.
TEST(ImageToImageTest, InpaintingKeepsTheKnownRegionAndResamplingHarmonizes) {
  OracleText text;
  text.reverse = R"(name: "partial_substitution" options {
      [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 1 } })";
  text.sampler = "num_steps: 100 labels: [-1]";  // unconditional (the oracle reads labels)  // unconditional: the oracle reads labels
  auto p = BuildOrFail(text.Text());
  ASSERT_NE(p, nullptr);
  const at::Tensor x = at::tensor({4.0, -3.0}, at::kFloat).view({1, 2}).repeat({200, 1});
  const at::Tensor mask = at::tensor({1.0, 0.0}, at::kFloat).view({1, 2});
  double near_zero[2];
  for (int resample : {1, 20}) {
    ImageToImageRequest request{x, 1.0, mask, 7};
    request.resample = resample;
    request.jump = 10;
    absl::StatusOr<Generated> out = ImageToImage(*p, request);
    ASSERT_THAT(out, IsOk());
    EXPECT_TRUE(at::equal(out->samples.select(1, 0), x.select(1, 0)));
    near_zero[resample > 1] = out->samples.select(1, 1).abs().lt(1).to(at::kFloat).mean().item<double>();
  }
  // Exact: P(|y| < 1 | x = 4) = 0.999. Measured: 0.42 plain, 0.70 with 20 passes of
  // jumps of 10 steps (RePaint's own setting; harmonizing needs jumps back to where y is
  // still undecided, and x = 4 only tells mode 0 from its neighbours late, at small noise).
  EXPECT_LT(near_zero[0], 0.6);
  EXPECT_GT(near_zero[1], near_zero[0] + 0.15);
}

TEST(ImageToImageTest, BadRequestsAreNamed) {
  auto p = BuildOrFail(OracleText().Text());
  ASSERT_NE(p, nullptr);
  EXPECT_THAT(ImageToImage(*p, {Points(), 1.5, {}, 0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("strength = 1.5")));
  EXPECT_THAT(ImageToImage(*p, {at::zeros({3, 3}), 0.5, {}, 0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("images: want [N, 2], got [3, 3]")));
  EXPECT_THAT(ImageToImage(*p, {Points(), 0.5, at::ones({2, 2}), 0}).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mask: want values in [0, 1]")));
  ImageToImageRequest no_mask{Points(), 1.0, {}, 0};
  no_mask.resample = 4;
  EXPECT_THAT(ImageToImage(*p, no_mask).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("resample = 4 needs a mask")));
}

}  // namespace
}  // namespace diffuse
