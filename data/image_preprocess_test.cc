#include "data/image_preprocess.h"

#include <vector>

#include "gtest/gtest.h"

namespace diffuse {
namespace {

// A 5 x 3 grey ramp, v(y, x) = (5 y + x)^2 / 196.
std::vector<float> Ramp() {
  std::vector<float> v;
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 5; ++x) v.push_back((5 * y + x) * (5 * y + x) / 196.0f);
  }
  return v;
}

// The reference values were computed once, exactly, with Python's fractions: repeat every
// pixel out_h x out_w times, then average blocks of in_h x in_w (the area filter's
// definition), independent of the weights used here.
TEST(AreaResizeTest, ShrinkMatchesExactAreaMeans) {
  const std::vector<float> out = AreaResize(Ramp(), 1, 3, 5, 2, 3);
  const std::vector<double> want = {0.05136054421768708, 0.09897959183673469,
                                    0.17108843537414967, 0.41870748299319727,
                                    0.5751700680272109,  0.7561224489795918};
  ASSERT_EQ(out.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
}

TEST(AreaResizeTest, GrowMatchesExactAreaMeans) {
  const std::vector<float> out = AreaResize(Ramp(), 1, 3, 5, 4, 7);
  const std::vector<double> want = {
      0.0, 0.003061224489795918, 0.00816326530612245, 0.02040816326530612,
      0.04081632653061224, 0.06020408163265306, 0.08163265306122448,
      0.08503401360544217, 0.10850340136054422, 0.13401360544217686, 0.17346938775510204,
      0.22108843537414966, 0.2608843537414966, 0.30272108843537415,
      0.25510204081632654, 0.29897959183673467, 0.3448979591836735, 0.41156462585034015,
      0.48639455782312924, 0.5465986394557824, 0.608843537414966,
      0.5102040816326531, 0.5744897959183674, 0.6408163265306123, 0.7346938775510204,
      0.8367346938775511, 0.9173469387755102, 1.0};
  ASSERT_EQ(out.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(out[i], want[i], 1e-6) << i;
}

TEST(AreaResizeTest, KeepsTheMean) {
  const std::vector<float> in = Ramp();
  double mean = 0;
  for (float v : in) mean += v / in.size();
  const std::vector<float> out = AreaResize(in, 1, 3, 5, 2, 2);
  double out_mean = 0;
  for (float v : out) out_mean += v / out.size();
  EXPECT_NEAR(out_mean, mean, 1e-6);
}

TEST(PrepareImageTest, CompositesOverTheBackgroundAndCrops) {
  // 4 x 2 RGBA: left half transparent red, right half opaque green; a centre crop keeps
  // columns 1..2.
  DecodedImage image;
  image.width = 4;
  image.height = 2;
  image.channels = 4;
  for (int y = 0; y < 2; ++y) {
    for (int x = 0; x < 4; ++x) {
      const bool left = x < 2;
      image.pixels.insert(image.pixels.end(), {left ? 1.0f : 0.0f, left ? 0.0f : 1.0f, 0.0f,
                                               left ? 0.5f : 1.0f});
    }
  }
  ImagePreparation p;
  p.size = 2;
  p.background = {0, 0, 1};
  const std::vector<float> rgb = PrepareImage(image, p);
  ASSERT_EQ(rgb.size(), 12u);
  // Planar: R, G, B planes of 2 x 2; column 0 is half red over blue, column 1 green.
  const std::vector<float> want = {0.5, 0, 0.5, 0, 0, 1, 0, 1, 0.5, 0, 0.5, 0};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(rgb[i], want[i]) << i;
  p.channels = 1;
  const std::vector<float> grey = PrepareImage(image, p);
  ASSERT_EQ(grey.size(), 4u);
  EXPECT_FLOAT_EQ(grey[0], 0.299f * 0.5f + 0.114f * 0.5f);
  EXPECT_FLOAT_EQ(grey[1], 0.587f);
}

}  // namespace
}  // namespace diffuse
