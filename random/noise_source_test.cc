#include "random/noise_source.h"
#include "random/philox_kernels.h"

#include <algorithm>
#include <cmath>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/erfc.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include "gtest/gtest.h"

namespace diffuse {
namespace {

TEST(PhiloxTest, MatchesTheRandom123KnownAnswer) {
  // Known-answer vector of Philox4x32-10 (Random123 kat_vectors): all-ones input.
  const uint32_t counter[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
  const uint32_t key[2] = {0xffffffff, 0xffffffff};
  uint32_t out[4];
  Philox4x32(counter, key, out);
  EXPECT_EQ(out[0], 0x408f276du);
  EXPECT_EQ(out[1], 0x41c83b0eu);
  EXPECT_EQ(out[2], 0xa20bc7c6u);
  EXPECT_EQ(out[3], 0x6d5451fdu);
}

// Pins the stream layout: sample i, draw k uses Philox block (k, i) under key = seed; word j
// of the block becomes uniform (word >> 8) / 2^24.
TEST(PhiloxNoiseTest, StreamsAreTheDocumentedPhiloxBlocks) {
  PhiloxNoise noise(/*seed=*/0x123456789abcdefULL, /*first_sample=*/5);
  noise.Uniform({3, 4});  // block 0 of samples 5..7
  const at::Tensor u = noise.Uniform({3, 6});  // blocks 1..2 of samples 5..7
  const uint32_t key[2] = {0x89abcdefu, 0x01234567u};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 6; ++j) {
      const uint32_t counter[4] = {static_cast<uint32_t>(1 + j / 4), 0,
                                   static_cast<uint32_t>(5 + i), 0};
      uint32_t out[4];
      Philox4x32(counter, key, out);
      EXPECT_EQ(u[i][j].item<float>(), (out[j % 4] >> 8) / 16777216.0f) << i << "," << j;
    }
  }
}

TEST(PhiloxNoiseTest, ASampleDoesNotDependOnBatchSizeOrChunking) {
  PhiloxNoise whole(42);
  at::Tensor a1 = whole.Normal({10, 3});
  at::Tensor a2 = whole.Normal({10, 3});
  // Samples 4..6 drawn as their own batch starting at sample 4.
  PhiloxNoise part(42, /*first_sample=*/4);
  at::Tensor b1 = part.Normal({3, 3});
  at::Tensor b2 = part.Normal({3, 3});
  EXPECT_TRUE(at::equal(a1.slice(0, 4, 7), b1));
  EXPECT_TRUE(at::equal(a2.slice(0, 4, 7), b2));
  EXPECT_FALSE(at::equal(a1, a2));
  PhiloxNoise other_seed(43);
  EXPECT_FALSE(at::equal(a1, other_seed.Normal({10, 3})));
}

TEST(PhiloxNoiseTest, DrawsAreStandardNormalAndUniform) {
  PhiloxNoise noise(1);
  at::Tensor z = noise.Normal({200000, 3}).to(at::kDouble);
  // Standard errors: mean 1/sqrt(n) ~ 1.3e-3, variance sqrt(2/n) ~ 1.8e-3.
  EXPECT_NEAR(z.mean().item<double>(), 0.0, 0.006);
  EXPECT_NEAR(z.var().item<double>(), 1.0, 0.008);
  EXPECT_NEAR((z.pow(4)).mean().item<double>(), 3.0, 0.05);
  // Coordinates of one sample are uncorrelated.
  EXPECT_NEAR((z.select(1, 0) * z.select(1, 1)).mean().item<double>(), 0.0, 0.01);
  at::Tensor u = noise.Uniform({100000, 1}).to(at::kDouble);
  EXPECT_GE(u.min().item<double>(), 0.0);
  EXPECT_LT(u.max().item<double>(), 1.0);
  EXPECT_NEAR(u.mean().item<double>(), 0.5, 0.005);
}

// Every normal equals Box-Muller computed in double from its Philox words (the documented
// formula), within the float kernels' error: this pins the layout and the accuracy of the
// polynomial log / sincos over many draws, including the odd last coordinate.
TEST(PhiloxNoiseTest, NormalsAreBoxMullerOfTheDocumentedWords) {
  PhiloxNoise noise(/*seed=*/77, /*first_sample=*/3);
  noise.Normal({2, 5});  // blocks 0..1
  const at::Tensor z = noise.Normal({37, 7});  // blocks 2..3
  const uint32_t key[2] = {77u, 0u};
  double worst = 0;
  for (int i = 0; i < 37; ++i) {
    for (int k = 0; k < 7; ++k) {
      const uint32_t counter[4] = {static_cast<uint32_t>(2 + k / 4), 0,
                                   static_cast<uint32_t>(3 + i), 0};
      uint32_t w[4];
      Philox4x32(counter, key, w);
      const int pair = (k % 4) / 2;
      const double u1 = ((w[2 * pair] >> 1) + 0.5) / 2147483648.0;
      const double u2 = ((w[2 * pair + 1] >> 1) + 0.5) / 2147483648.0;
      const double r = std::sqrt(-2 * std::log(u1)), a = 2 * M_PI * u2;
      const double want = k % 2 == 0 ? r * std::cos(a) : r * std::sin(a);
      const double err = std::abs(z[i][k].item<float>() - want) / (1 + std::abs(want));
      worst = std::max(worst, err);
    }
  }
  EXPECT_LT(worst, 2e-6);
}

// The distribution as a whole (Kolmogorov-Smirnov, tails) and independence of streams.
TEST(PhiloxNoiseTest, NormalsMatchTheirCdfAndAreIndependentAcrossSamples) {
  PhiloxNoise noise(5);
  const int64_t n = 400000;
  at::Tensor z = noise.Normal({n, 2}).to(at::kDouble);
  at::Tensor flat = std::get<0>(z.flatten().sort());
  // Kolmogorov-Smirnov distance to Phi; the 0.1% critical value at 800,000 draws is 0.0022.
  at::Tensor phi = 0.5 * at::erfc(-flat / std::sqrt(2.0));
  const int64_t m = flat.numel();
  at::Tensor grid = at::arange(1, m + 1, at::kDouble) / m;
  EXPECT_LT((phi - grid).abs().max().item<double>(), 0.0022);
  // Tails: P(|z| > 3) = 0.0026998, standard error 5.8e-5 at this n.
  EXPECT_NEAR((z.abs() > 3).to(at::kDouble).mean().item<double>(), 0.0026998, 3.5e-4);
  // Neighbouring samples (separate streams) are uncorrelated.
  at::Tensor a = z.slice(0, 0, n - 1).select(1, 0), b = z.slice(0, 1, n).select(1, 0);
  EXPECT_NEAR((a * b).mean().item<double>(), 0.0, 0.008);
  at::Tensor c = z.slice(0, 1, n).select(1, 1);
  EXPECT_NEAR((a * c).mean().item<double>(), 0.0, 0.008);
}

TEST(SuppliedNoiseTest, ReturnsTensorsInOrderAndChecksShape) {
  SuppliedNoise noise({at::ones({2, 2}), at::zeros({2, 2})});
  EXPECT_TRUE(at::equal(noise.Normal({2, 2}), at::ones({2, 2})));
  EXPECT_THROW(noise.Normal({3, 2}), c10::Error);
  EXPECT_THROW(noise.Normal({2, 2}), c10::Error);  // ran out
}

}  // namespace
}  // namespace diffuse
