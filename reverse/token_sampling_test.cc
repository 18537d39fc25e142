// Discrete reverse steps on token data, against the exact TokenMixture:
//  - marginal consistency by Monte Carlo: x0 ~ data, x_t ~ q(x_t | x0), x_s ~ p(x_s | x_t, x0)
//    gives x_s ~ q(x_s | x0) = Qbar_s[x0, :], for every accepted (forward, reverse) pair;
//  - sampling with the exact p(x0 | x_t) reproduces the data distribution, enumerated over
//    all K^L sequences (total variation within a stated margin of exact samples').
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/bincount.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/one_hot.h>
#include <ATen/ops/zeros.h>

#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "data/token_mixture.h"
#include "forward/categorical.h"
#include "gtest/gtest.h"
#include "random/noise_source.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr char kData[] = R"(name: "token_mixture" options {
    [type.googleapis.com/diffuse.TokenMixtureOptions] { num_classes: 3 length: 4 num_components: 3 } })";
constexpr char kOracle[] = R"(name: "token_mixture_oracle")";
constexpr char kUniform[] = R"(name: "uniform_categorical" options {
    [type.googleapis.com/diffuse.UniformCategoricalOptions] { num_classes: 3 num_steps: 100 } })";
constexpr char kMasking[] = R"(name: "masking" options {
    [type.googleapis.com/diffuse.MaskingOptions] { num_classes: 3 num_steps: 100 } })";

std::string TokenText(const char* forward, const char* reverse,
                      const char* predictor = kOracle) {
  return OracleText{.data = kData,
                    .predictor = predictor,
                    .forward = forward,
                    .prior = R"(name: "forward_terminal")",
                    .reverse = reverse,
                    .sampler = "num_steps: 100 batch_size: 5000"}
      .Text();
}

struct Case {
  const char* forward;
  const char* reverse;
  double t, s;
};

class TokenConsistencyTest : public ::testing::TestWithParam<Case> {};

TEST_P(TokenConsistencyTest, StepReproducesTheForwardMarginal) {
  const Case c = GetParam();
  auto p = BuildOrFail(TokenText(c.forward, c.reverse));
  ASSERT_NE(p, nullptr);
  const int64_t n = 100000;
  at::Generator gen = at::detail::createCPUGenerator(4);
  const at::Tensor x0 = p->data->Sample(n, gen).x;
  PhiloxNoise noise(9);
  const at::Tensor x_t = p->forward->Apply(x0, c.t, p->forward->SampleNoise(x0.sizes(), noise));
  const at::Tensor logits = at::one_hot(x0, 3).to(at::kDouble).log();
  ReverseStep step{p->forward.get(), c.t, c.s, 0, 1, &noise, nullptr};
  const at::Tensor x_s = p->reverse->Step(step, x_t, {x0, logits});
  const CategoricalCoefficients& cat = *p->forward->categorical();
  const at::Tensor expected = CategoricalTransition(cat, 0, c.s);
  for (int64_t i = 0; i < 3; ++i) {
    const at::Tensor from_i = x_s.masked_select(x0.eq(i));
    const at::Tensor freq =
        at::bincount(from_i, {}, cat.num_states()).to(at::kDouble) / from_i.numel();
    // ~1.3e5 tokens per class: standard error <= 0.0014.
    EXPECT_TRUE(at::allclose(freq, expected[i], 0, 0.007)) << i << "\n" << freq << expected[i];
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryAcceptedPair, TokenConsistencyTest,
    ::testing::Values(Case{kUniform, R"(name: "categorical_posterior")", 60, 40},
                      Case{kUniform, R"(name: "categorical_posterior")", 100, 1},
                      Case{kMasking, R"(name: "categorical_posterior")", 70, 30},
                      Case{kMasking, R"(name: "absorbing_posterior")", 70, 30},
                      Case{kMasking, R"(name: "resample")", 50, 49},
                      Case{kUniform, R"(name: "resample")", 90, 10}));

// Total variation between the empirical distribution of x [n, L] and the exact one.
double TotalVariation(const TokenMixture& mixture, const at::Tensor& x) {
  const int64_t k = mixture.num_classes(), l = mixture.length();
  const int64_t count = static_cast<int64_t>(std::pow(k, l));
  at::Tensor all = at::empty({count, l}, at::kLong);
  for (int64_t i = 0; i < count; ++i) {
    for (int64_t j = 0, v = i; j < l; ++j, v /= k) all[i][j] = v % k;
  }
  const at::Tensor exact = mixture.LogProb(all).exp();
  at::Tensor code = at::zeros({x.size(0)}, at::kLong);
  for (int64_t j = l - 1; j >= 0; --j) code = code * k + x.select(1, j);
  const at::Tensor empirical = at::bincount(code, {}, count).to(at::kDouble) / x.size(0);
  return 0.5 * (empirical - exact).abs().sum().item<double>();
}

TEST(TokenSamplingTest, ExactPosteriorReproducesTheDistribution) {
  const int64_t n = 20000;
  auto reference = BuildOrFail(TokenText(kMasking, R"(name: "categorical_posterior")"));
  ASSERT_NE(reference, nullptr);
  const TokenMixture& mixture = *reference->data->token_mixture();
  at::Generator gen = at::detail::createCPUGenerator(1);
  const double exact_tv = TotalVariation(mixture, mixture.Sample(n, gen).x);
  for (const char* forward : {kMasking, kUniform}) {
    for (const char* reverse : {R"(name: "categorical_posterior")", R"(name: "absorbing_posterior")"}) {
      if (forward == kUniform && std::string(reverse).find("absorbing") != std::string::npos) continue;
      auto p = BuildOrFail(TokenText(forward, reverse, R"(name: "token_mixture_oracle" options {
          [type.googleapis.com/diffuse.TokenMixtureOracleOptions] { class_conditional: false } })"));
      ASSERT_NE(p, nullptr);
      absl::StatusOr<Generated> g = Generate(*p, {.num = n, .seed = 3});
      ASSERT_THAT(g.status(), IsOk());
      ASSERT_EQ(g->samples.scalar_type(), at::kLong);
      const double tv = TotalVariation(mixture, g->samples);
      std::cout << forward << " + " << reverse << ": TV " << tv << " (exact samples " << exact_tv << ")\n";
      EXPECT_LT(tv, exact_tv + 0.02);
    }
  }
}

TEST(TokenBuilderTest, IncompatibleCombinationsAreRejected) {
  EXPECT_THAT(BuildFromText(TokenText(R"(name: "gaussian_vp")", R"(name: "substitution")")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("data 'token_mixture' is tokens")));
  EXPECT_THAT(BuildFromText(OracleText{.forward = kUniform}.Text()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("real-valued")));
  EXPECT_THAT(BuildFromText(TokenText(R"(name: "uniform_categorical" options {
    [type.googleapis.com/diffuse.UniformCategoricalOptions] { num_classes: 5 } })",
                                      R"(name: "categorical_posterior")")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("num_classes = 5")));
  EXPECT_THAT(BuildFromText(TokenText(kUniform, R"(name: "euler")")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("reverse 'euler'")));
  EXPECT_THAT(BuildFromText(TokenText(kUniform, R"(name: "absorbing_posterior")")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("absorbing")));
  EXPECT_THAT(BuildFromText(TokenText(kMasking, R"(name: "substitution")")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("substitution")));
  EXPECT_THAT(BuildFromText(OracleText{.forward = R"(name: "gaussian_vp")",
                                       .reverse = R"(name: "categorical_posterior")"}
                                .Text()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("categorical")));
}

}  // namespace
}  // namespace diffuse
