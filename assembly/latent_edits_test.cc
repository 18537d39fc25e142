#include "assembly/latent_edits.h"

#include <cmath>

#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/linspace.h>
#include <ATen/ops/randn.h>

#include "gtest/gtest.h"

namespace diffuse {
namespace {

// Slerp keeps the norm of equal-norm endpoints (so interpolated x_T stays a plausible
// Gaussian draw, which lerp would shrink) and hits both ends.
TEST(LatentEditsTest, SlerpKeepsTheNormAndHitsTheEnds) {
  at::manual_seed(0);
  const at::Tensor a = at::randn({1, 28, 28}, at::kDouble);
  at::Tensor b = at::randn({1, 28, 28}, at::kDouble);
  b = b * (a.norm() / b.norm());
  const at::Tensor frames = Slerp(a, b, at::linspace(0, 1, 5, at::kDouble));
  ASSERT_EQ(frames.sizes(), at::IntArrayRef({5, 1, 28, 28}));
  EXPECT_TRUE(at::allclose(frames[0], a));
  EXPECT_TRUE(at::allclose(frames[4], b));
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(frames[i].norm().item<double>(), a.norm().item<double>(), 1e-9);
  const at::Tensor lerp = Lerp(a, b, at::linspace(0, 1, 5, at::kDouble));
  EXPECT_LT(lerp[2].norm().item<double>(), 0.8 * a.norm().item<double>());  // ~ 1/sqrt(2)
}

// Two Gaussian classes separated along one axis: the fitted normal points along that axis
// and moving along it flips the prediction.
TEST(LatentEditsTest, LogisticDirectionFindsTheSeparatingAxis) {
  at::manual_seed(1);
  const int64_t n = 2000;
  at::Tensor z = at::randn({n, 8}, at::kDouble);
  const at::Tensor y = at::arange(n, at::kLong).remainder(2);
  z.select(1, 3).add_(y.to(at::kDouble) * 4 - 2);  // classes at -2 and +2 on axis 3
  const LatentDirection d = FitLatentDirection(z, y);
  EXPECT_GT(d.train_accuracy, 0.95);
  const at::Tensor unit = d.weight / d.weight.norm();
  EXPECT_GT(unit[3].item<double>(), 0.98);
  const at::Tensor negatives = z.index({y.eq(0)});
  EXPECT_LT(d.Probability(negatives).mean().item<double>(), 0.1);
  EXPECT_GT(d.Probability(d.Move(negatives, 2.0)).mean().item<double>(), 0.9);
}

}  // namespace
}  // namespace diffuse
