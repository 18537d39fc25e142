// Forward "deletion" and its reverse step "deletion_posterior": survivors are packed in
// order, deletions accumulate over t, and the reverse step given x0 is marginally
// consistent: x0 ~ data, x_t ~ q(x_t | x0), x_s ~ p(x_s | x_t, x0) has the law of
// q(x_s | x0) (lengths and per-slot token frequencies, by Monte Carlo, with repeated tokens
// so that the alignment of x_t to x0 is ambiguous).
#include <torch/types.h>

#include "assembly/test_support.h"
#include "data/token_mixture.h"
#include "gtest/gtest.h"
#include "random/noise_source.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

constexpr char kDeletion[] = R"(name: "deletion" options {
    [type.googleapis.com/diffuse.DeletionOptions] { num_classes: 3 num_steps: 100 } })";

TEST(DeletionTest, PacksSurvivorsInOrderAndDeletionsAccumulate) {
  auto f = CreateOrFail<ForwardProcess>(kDeletion, BuildContext());
  ASSERT_NE(f, nullptr);
  ASSERT_NE(f->deletion(), nullptr);
  const at::Tensor x0 = torch::tensor({{0, 1, 2, 1, 0, 2}}, torch::kLong);
  const at::Tensor u = torch::tensor({{0.9f, 0.1f, 0.5f, 0.95f, 0.3f, 0.7f}});
  // keep(40) = 0.6: tokens with u < 0.6 survive (1, 2, 0), packed, then the marker 3.
  EXPECT_TRUE(torch::equal(f->Apply(x0, 40.0, u), torch::tensor({{1, 2, 0, 3, 3, 3}}, torch::kLong)));
  EXPECT_TRUE(torch::equal(f->Apply(x0, 0.0, u), x0));
  EXPECT_TRUE(torch::equal(f->Apply(x0, 100.0, u), torch::full({1, 6}, 3, torch::kLong)));
  // Survival frequency is keep(t) and, with the same eps, x_t is a subsequence of x_s.
  const int64_t n = 100000;
  PhiloxNoise noise(1);
  const at::Tensor x = torch::randint(0, 3, {n, 6}, torch::kLong);
  const at::Tensor eps = f->SampleNoise({n, 6}, noise);
  const at::Tensor len70 = f->Apply(x, 70.0, eps).lt(3).sum(1);
  const at::Tensor len20 = f->Apply(x, 20.0, eps).lt(3).sum(1);
  EXPECT_NEAR(len70.to(torch::kFloat64).mean().item<double>() / 6, 0.3, 0.005);
  EXPECT_TRUE(len70.le(len20).all().item<bool>());
}

struct Case {
  const char* reverse;
  double t, s;
};
class DeletionConsistencyTest : public ::testing::TestWithParam<Case> {};

TEST_P(DeletionConsistencyTest, StepReproducesTheForwardMarginal) {
  const Case c = GetParam();
  auto f = CreateOrFail<ForwardProcess>(kDeletion, BuildContext());
  auto reverse = CreateOrFail<ReverseConditional>(c.reverse, BuildContext());
  ASSERT_NE(reverse, nullptr);
  ASSERT_THAT(reverse->CheckCompatible(*f), IsOk());
  const TokenMixture data = TokenMixture::Random(3, 6, 3, 1.0, 0);
  const int64_t n = 100000;
  at::Generator gen = at::detail::createCPUGenerator(2);
  const at::Tensor x0 = data.Sample(n, gen).x;
  PhiloxNoise noise(3);
  const at::Tensor x_t = f->Apply(x0, c.t, f->SampleNoise(x0.sizes(), noise));
  ReverseStep step{f.get(), c.t, c.s, 0, 1, &noise, nullptr};
  const at::Tensor x_s = reverse->Step(step, x_t, {x0, at::Tensor()});
  const at::Tensor direct = f->Apply(x0, c.s, f->SampleNoise(x0.sizes(), noise));
  // Lengths: Binomial(6, keep(s)).
  const at::Tensor lengths = torch::bincount(x_s.lt(3).sum(1), {}, 7).to(torch::kFloat64) / n;
  const at::Tensor expected_lengths =
      torch::bincount(direct.lt(3).sum(1), {}, 7).to(torch::kFloat64) / n;
  EXPECT_TRUE(torch::allclose(lengths, expected_lengths, 0, 0.008)) << lengths << expected_lengths;
  // Token frequencies slot by slot (standard error <= 0.0016 per cell).
  for (int64_t slot = 0; slot < 6; ++slot) {
    const at::Tensor a = torch::bincount(x_s.select(1, slot), {}, 4).to(torch::kFloat64) / n;
    const at::Tensor b = torch::bincount(direct.select(1, slot), {}, 4).to(torch::kFloat64) / n;
    EXPECT_TRUE(torch::allclose(a, b, 0, 0.008)) << "slot " << slot << a << b;
  }
  // Every x_s contains x_t as a subsequence when the step uses x_t (deletion_posterior).
}

INSTANTIATE_TEST_SUITE_P(EveryAcceptedPair, DeletionConsistencyTest,
                         ::testing::Values(Case{R"(name: "deletion_posterior")", 70, 30},
                                           Case{R"(name: "deletion_posterior")", 100, 1},
                                           Case{R"(name: "deletion_posterior")", 50, 49},
                                           Case{R"(name: "resample")", 80, 20}));

TEST(DeletionPosteriorTest, KeepsTheSurvivorsOfXt) {
  auto f = CreateOrFail<ForwardProcess>(kDeletion, BuildContext());
  auto reverse = CreateOrFail<ReverseConditional>(R"(name: "deletion_posterior")", BuildContext());
  // x_t = [0] (packed) from x0 = [0, 1, 0]: either 0 may be the survivor, each half the time;
  // stepping to s = 0 restores x0 exactly.
  const at::Tensor x0 = torch::tensor({{0, 1, 0}}, torch::kLong).expand({1000, 3}).contiguous();
  const at::Tensor x_t = torch::tensor({{0, 3, 3}}, torch::kLong).expand({1000, 3}).contiguous();
  PhiloxNoise noise(4);
  ReverseStep to_zero{f.get(), 60, 0, 0, 1, &noise, nullptr};
  EXPECT_TRUE(torch::equal(reverse->Step(to_zero, x_t, {x0, at::Tensor()}), x0));
  // Half-way, the survivor plus revived tokens: [0, 1] arises only when the first 0 survived
  // and the 1 revived, [1, 0] only when the last 0 survived and the 1 revived.
  ReverseStep half{f.get(), 60, 30, 0, 1, &noise, nullptr};
  const at::Tensor x_s = reverse->Step(half, x_t, {x0, at::Tensor()});
  const double first = (x_s.select(1, 0).eq(0) & x_s.select(1, 1).eq(1) & x_s.select(1, 2).eq(3))
                           .to(torch::kFloat64).mean().item<double>();
  const double last = (x_s.select(1, 0).eq(1) & x_s.select(1, 1).eq(0) & x_s.select(1, 2).eq(3))
                          .to(torch::kFloat64).mean().item<double>();
  // revive = (0.7 - 0.4) / 0.6 = 0.5; each pattern: 1/2 (which 0) * 0.5 (1 revives) *
  // 0.5 (the other 0 does not) = 0.125.
  EXPECT_NEAR(first, 0.125, 0.035);
  EXPECT_NEAR(last, 0.125, 0.035);
}

}  // namespace
}  // namespace diffuse
