// Factorized categorical processes (uniform_categorical; masking of tokens): transition
// matrices chain, posteriors are Bayes' rule enumerated on small cases, sum to one and match
// the published closed forms, and F_t draws from the marginal q(x_t | x0).
#include <cmath>

#include <torch/types.h>

#include "assembly/test_support.h"
#include "forward/categorical.h"
#include "gtest/gtest.h"
#include "random/noise_source.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

constexpr char kUniform[] = R"(name: "uniform_categorical" options {
    [type.googleapis.com/diffuse.UniformCategoricalOptions] { num_classes: 3 num_steps: 6 } })";
constexpr char kMasking[] = R"(name: "masking" options {
    [type.googleapis.com/diffuse.MaskingOptions] { num_classes: 3 num_steps: 6 schedule: COSINE } })";

class CategoricalTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    forward_ = CreateOrFail<ForwardProcess>(GetParam(), BuildContext());
    ASSERT_NE(forward_, nullptr);
    ASSERT_NE(forward_->categorical(), nullptr);
    ASSERT_EQ(forward_->data_kind(), DataKind::kTokens);
  }
  const CategoricalCoefficients& c() const { return *forward_->categorical(); }
  // Qbar_t built as a product of one-step matrices Q(t-1, t), independently of
  // CategoricalTransition(0, t).
  at::Tensor ChainedMarginal(int t) const {
    at::Tensor q = torch::eye(c().num_states(), torch::kFloat64);
    for (int i = 1; i <= t; ++i) q = torch::matmul(q, CategoricalTransition(c(), i - 1, i));
    return q;
  }
  std::unique_ptr<ForwardProcess> forward_;
};

TEST_P(CategoricalTest, OneStepMatricesChainToTheMarginal) {
  for (int t = 0; t <= 6; ++t) {
    EXPECT_TRUE(torch::allclose(ChainedMarginal(t), CategoricalTransition(c(), 0, t), 0, 1e-12))
        << t;
    EXPECT_TRUE(torch::allclose(CategoricalTransition(c(), 0, t).sum(1),
                                torch::ones({c().num_states()}, torch::kFloat64)));
  }
  // Everything is stationary at T.
  EXPECT_TRUE(torch::allclose(CategoricalTransition(c(), 0, 6)[0], c().Stationary(), 0, 1e-12));
}

TEST_P(CategoricalTest, LikelihoodIsTheMarginalsColumn) {
  const int64_t k = c().num_classes();
  const at::Tensor x_t = torch::arange(c().num_states(), torch::kLong);
  for (int t : {1, 3, 5}) {
    const at::Tensor expected = ChainedMarginal(t).slice(0, 0, k).t();  // [S, K]
    EXPECT_TRUE(torch::allclose(CategoricalLikelihood(c(), x_t, double(t)), expected, 0, 1e-12));
    // Per-sample times give the same rows.
    const at::Tensor per_sample =
        CategoricalLikelihood(c(), x_t, Time(torch::full({c().num_states()}, double(t), torch::kFloat64)));
    EXPECT_TRUE(torch::allclose(per_sample, expected, 0, 1e-12));
  }
}

// q(x_s | x_t, x0) = Qbar_s[x0, x_s] Q(s, t)[x_s, x_t] / Qbar_t[x0, x_t], every case.
TEST_P(CategoricalTest, PosteriorIsBayesRuleEnumerated) {
  const int64_t k = c().num_classes(), n = c().num_states();
  for (auto [s, t] : std::vector<std::pair<int, int>>{{0, 1}, {2, 3}, {1, 5}, {5, 6}, {0, 6}}) {
    const at::Tensor qs = ChainedMarginal(s), qt = ChainedMarginal(t);
    at::Tensor step = torch::eye(n, torch::kFloat64);
    for (int i = s + 1; i <= t; ++i) step = torch::matmul(step, CategoricalTransition(c(), i - 1, i));
    for (int64_t x0 = 0; x0 < k; ++x0) {
      for (int64_t xt = 0; xt < n; ++xt) {
        const double evidence = qt[x0][xt].item<double>();
        if (evidence == 0) continue;
        const at::Tensor expected = qs[x0] * step.select(1, xt) / evidence;
        const at::Tensor got = CategoricalPosterior(
            c(), torch::full({1}, xt, torch::kLong),
            torch::one_hot(torch::full({1}, x0, torch::kLong), k).to(torch::kFloat64), t, s)[0];
        EXPECT_TRUE(torch::allclose(got, expected, 0, 1e-12))
            << "s=" << s << " t=" << t << " x0=" << x0 << " x_t=" << xt << "\n" << got << expected;
        EXPECT_NEAR(got.sum().item<double>(), 1.0, 1e-12);
      }
    }
  }
}

// With uncertain x0 the step mixes the per-class posteriors, weighted by p0 over the
// classes that could have produced x_t.
TEST_P(CategoricalTest, PosteriorMixesOverPossibleClasses) {
  const int64_t k = c().num_classes();
  const at::Tensor p0 = torch::tensor({0.5, 0.3, 0.2}, torch::kFloat64);
  const at::Tensor x_t = torch::full({1}, 1, torch::kLong);
  const at::Tensor likelihood = CategoricalLikelihood(c(), x_t, 4.0)[0];
  at::Tensor expected = torch::zeros({c().num_states()}, torch::kFloat64);
  double mass = 0;
  for (int64_t i = 0; i < k; ++i) {
    if (likelihood[i].item<double>() == 0) continue;
    const at::Tensor onehot = torch::one_hot(torch::full({1}, i, torch::kLong), k).to(torch::kFloat64);
    expected += p0[i] * CategoricalPosterior(c(), x_t, onehot, 4, 2)[0];
    mass += p0[i].item<double>();
  }
  EXPECT_TRUE(torch::allclose(CategoricalPosterior(c(), x_t, p0.unsqueeze(0), 4, 2)[0],
                              expected / mass, 0, 1e-12));
}

TEST_P(CategoricalTest, ApplyDrawsFromTheMarginal) {
  const int64_t n = 400000;
  PhiloxNoise noise(3);
  const at::Tensor x0 = torch::full({n, 1}, 2, torch::kLong);
  for (double t : {1.0, 3.0, 5.0}) {
    const at::Tensor x_t = forward_->Apply(x0, t, forward_->SampleNoise(x0.sizes(), noise));
    const at::Tensor freq =
        torch::bincount(x_t.flatten(), {}, c().num_states()).to(torch::kFloat64) / n;
    // Standard error <= 0.0008.
    EXPECT_TRUE(torch::allclose(freq, ChainedMarginal(int(t))[2], 0, 0.004)) << t << freq;
  }
  const at::Tensor terminal = forward_->SampleTerminal({n, 1}, noise);
  const at::Tensor freq =
      torch::bincount(terminal.flatten(), {}, c().num_states()).to(torch::kFloat64) / n;
  EXPECT_TRUE(torch::allclose(freq, c().Stationary(), 0, 0.004)) << freq;
}

INSTANTIATE_TEST_SUITE_P(UniformAndAbsorbing, CategoricalTest,
                         ::testing::Values(kUniform, kMasking));

// Multinomial diffusion's posterior (Hoogeboom et al. 2021, eq. 13-14):
//   theta ~ [a x_t + (1 - a) / K] * [abar_s x0 + (1 - abar_s) / K],  a = abar_t / abar_s.
TEST(UniformCategoricalTest, PosteriorIsHoogeboomsClosedForm) {
  auto forward = CreateOrFail<ForwardProcess>(kUniform, BuildContext());
  const CategoricalCoefficients& c = *forward->categorical();
  for (auto [s, t] : std::vector<std::pair<int, int>>{{2, 3}, {0, 4}, {3, 6}}) {
    const double abar_s = c.Keep(s), a = c.Keep(t) / c.Keep(s);
    for (int64_t x0 = 0; x0 < 3; ++x0) {
      for (int64_t xt = 0; xt < 3; ++xt) {
        const auto e = [](int64_t i) {
          return torch::one_hot(torch::full({}, i, torch::kLong), 3).to(torch::kFloat64);
        };
        at::Tensor theta = (a * e(xt) + (1 - a) / 3) * (abar_s * e(x0) + (1 - abar_s) / 3);
        theta = theta / theta.sum();
        const at::Tensor got = CategoricalPosterior(
            c, torch::full({1}, xt, torch::kLong),
            torch::one_hot(torch::full({1}, x0, torch::kLong), 3).to(torch::kFloat64), t, s)[0];
        EXPECT_TRUE(torch::allclose(got, theta, 0, 1e-12)) << got << theta;
      }
    }
  }
}

// D3PM absorbing state: a masked token is unmasked to x0 with probability
// (keep_s - keep_t) / (1 - keep_t); an unmasked token stays.
TEST(TokenMaskingTest, PosteriorIsTheAbsorbingClosedForm) {
  auto forward = CreateOrFail<ForwardProcess>(kMasking, BuildContext());
  const CategoricalCoefficients& c = *forward->categorical();
  EXPECT_EQ(forward->absorbing()->MaskValue(), 3);
  const double unmask = (c.Keep(2) - c.Keep(5)) / (1 - c.Keep(5));
  const at::Tensor p0 = torch::tensor({{0.0, 1.0, 0.0}}, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(
      CategoricalPosterior(c, torch::full({1}, 3, torch::kLong), p0, 5, 2)[0],
      torch::tensor({0.0, unmask, 0.0, 1 - unmask}, torch::kFloat64), 0, 1e-12));
  // An unmasked token is x0 itself whatever p0 says.
  EXPECT_TRUE(torch::allclose(
      CategoricalPosterior(c, torch::full({1}, 0, torch::kLong), p0, 5, 2)[0],
      torch::tensor({1.0, 0.0, 0.0, 0.0}, torch::kFloat64), 0, 1e-12));
}

TEST(CategoricalOptionsTest, ErrorsNameTheOption) {
  ComponentSpec spec;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(name: "uniform_categorical" options {
          [type.googleapis.com/diffuse.UniformCategoricalOptions] { num_classes: 1 } })",
      &spec));
  EXPECT_THAT(Registry<ForwardProcess>::Global().Create(spec, "forward", BuildContext()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_classes = 1")));
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      R"(name: "masking" options {
          [type.googleapis.com/diffuse.MaskingOptions] { num_classes: 5 deterministic: true } })",
      &spec));
  EXPECT_THAT(Registry<ForwardProcess>::Global().Create(spec, "forward", BuildContext()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deterministic")));
}

}  // namespace
}  // namespace diffuse
