// Masking (absorbing state): deterministic masking is recovered exactly by substitution;
// random masking has the keep(t) marginals, and the absorbing posterior is exact: enumerated
// on one entry it sums to one and reproduces q(x_s | x0), and by Monte Carlo on many.
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/zeros_like.h>

#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "random/noise_source.h"
#include "reverse/absorbing_posterior.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::string Masking(bool deterministic, const std::string& schedule = "LINEAR") {
  return std::string("name: \"masking\" options { [type.googleapis.com/diffuse.MaskingOptions] "
                     "{ num_steps: 50 mask_value: -9 schedule: ") +
         schedule + (deterministic ? " deterministic: true" : "") + " } }";
}

TEST(MaskingTest, DeterministicMaskingIsRecoveredExactlyBySubstitution) {
  auto forward = CreateOrFail<ForwardProcess>(Masking(true), BuildContext());
  auto reverse = CreateOrFail<ReverseConditional>(R"(name: "substitution")", BuildContext());
  ASSERT_NE(forward, nullptr);
  ASSERT_THAT(reverse->CheckCompatible(*forward), IsOk());
  const at::Tensor x0 = at::rand({4, 3, 8, 8});
  PhiloxNoise noise(1);
  at::Tensor x = forward->Apply(x0, 50.0, forward->SampleNoise(x0.sizes(), noise));
  EXPECT_TRUE(x.eq(-9).all().item<bool>());  // everything masked at T
  // Half-way, the same positions are masked in every sample (a fixed order).
  const at::Tensor half = forward->Apply(x0, 25.0, at::zeros_like(x0)).eq(-9);
  EXPECT_TRUE(at::equal(half[0], half[3]));
  EXPECT_NEAR(half.to(at::kFloat).mean().item<float>(), 0.5, 0.02);
  for (int t = 50; t >= 1; --t) {
    ReverseStep step{forward.get(), double(t), double(t - 1), 50 - t, 50, &noise, nullptr};
    x = reverse->Step(step, x, {x0, at::Tensor()});
  }
  EXPECT_TRUE(at::equal(x, x0));
}

TEST(MaskingTest, RandomMasksKeepEachEntryWithProbabilityKeepT) {
  auto forward = CreateOrFail<ForwardProcess>(Masking(false, "COSINE"), BuildContext());
  ASSERT_NE(forward, nullptr);
  EXPECT_FALSE(forward->IsInvertible());
  const at::Tensor x0 = at::rand({20000, 10});
  PhiloxNoise noise(2);
  for (double t : {10.0, 25.0, 40.0}) {
    const at::Tensor x_t = forward->Apply(x0, t, forward->SampleNoise(x0.sizes(), noise));
    const double kept = x_t.ne(-9).to(at::kDouble).mean().item<double>();
    EXPECT_NEAR(kept, std::cos(M_PI / 2 * t / 50), 0.005) << t;
    EXPECT_TRUE(at::equal(x_t.masked_select(x_t.ne(-9)), x0.masked_select(x_t.ne(-9))));
  }
}

// One entry, two states (kept / masked): the posterior sums to one and
// sum_{state_t} q(state_t | x0) p(state_s | state_t, x0) = q(state_s | x0) exactly.
TEST(AbsorbingPosteriorTest, EnumeratedExactlyOnOneEntry) {
  for (auto [keep_t, keep_s] : std::vector<std::pair<double, double>>{
           {0.2, 0.5}, {0.0, 0.3}, {0.7, 0.71}, {0.4, 1.0}}) {
    const double p_unmask = AbsorbingUnmaskProbability(keep_t, keep_s);
    // Rows: state at t (kept, masked); columns: state at s (kept, masked).
    const double posterior[2][2] = {{1.0, 0.0}, {p_unmask, 1 - p_unmask}};
    for (const auto& row : posterior) {
      EXPECT_DOUBLE_EQ(row[0] + row[1], 1.0);
      EXPECT_GE(row[0], 0.0);
      EXPECT_GE(row[1], 0.0);
    }
    const double prior_t[2] = {keep_t, 1 - keep_t};
    const double kept_s = prior_t[0] * posterior[0][0] + prior_t[1] * posterior[1][0];
    EXPECT_NEAR(kept_s, keep_s, 1e-15);
  }
}

TEST(AbsorbingPosteriorTest, MarginalConsistencyByMonteCarlo) {
  auto forward = CreateOrFail<ForwardProcess>(Masking(false), BuildContext());
  auto reverse = CreateOrFail<ReverseConditional>(R"(name: "absorbing_posterior")", BuildContext());
  ASSERT_THAT(reverse->CheckCompatible(*forward), IsOk());
  const at::Tensor x0 = at::rand({50000, 4});
  PhiloxNoise noise(3);
  const at::Tensor x_t = forward->Apply(x0, 40.0, forward->SampleNoise(x0.sizes(), noise));
  ReverseStep step{forward.get(), 40.0, 15.0, 0, 1, &noise, nullptr};
  const at::Tensor x_s = reverse->Step(step, x_t, {x0, at::Tensor()});
  const at::Tensor kept = x_s.ne(-9);
  EXPECT_NEAR(kept.to(at::kDouble).mean().item<double>(), 1 - 15.0 / 50, 0.004);
  EXPECT_TRUE(at::equal(x_s.masked_select(kept), x0.masked_select(kept)));
  // Entries are independent: the kept indicators of two entries are uncorrelated.
  const at::Tensor k = kept.to(at::kDouble);
  const double cov = ((k.select(1, 0) - 0.7) * (k.select(1, 1) - 0.7)).mean().item<double>();
  EXPECT_NEAR(cov, 0.0, 0.005);
  // To t = 0 everything is revealed.
  ReverseStep last{forward.get(), 1.0, 0.0, 0, 1, &noise, nullptr};
  EXPECT_TRUE(at::equal(reverse->Step(last, x_s, {x0, at::Tensor()}), x0));
}

TEST(AbsorbingPosteriorTest, CompositionRules) {
  auto random = CreateOrFail<ForwardProcess>(Masking(false), BuildContext());
  auto substitution = CreateOrFail<ReverseConditional>(R"(name: "substitution")", BuildContext());
  EXPECT_THAT(substitution->CheckCompatible(*random),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("invertible")));
  auto vp = CreateOrFail<ForwardProcess>(R"(name: "gaussian_vp")", BuildContext());
  auto posterior = CreateOrFail<ReverseConditional>(R"(name: "absorbing_posterior")", BuildContext());
  EXPECT_THAT(posterior->CheckCompatible(*vp),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("absorbing-state")));
  auto deterministic = CreateOrFail<ForwardProcess>(Masking(true), BuildContext());
  EXPECT_THAT(posterior->CheckCompatible(*deterministic),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("absorbing-state")));
}

}  // namespace
}  // namespace diffuse
