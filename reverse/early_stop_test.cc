// Early-stopped diffusion (ES-DDPM): forward "truncated" at T' plus prior "diffused_estimate".
// With exact data samples as the estimate, x_{T'} has exactly the forward marginal, so the
// oracle's samples reproduce the mixture from any T'; with a single-Gaussian fit the
// estimate's errors must be washed out by the noise, so quality improves as T' grows.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "assembly/generate.h"
#include "assembly/test_support.h"
#include "eval/mixture_metrics.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::string Truncated(int t_end) {
  return absl::StrCat(R"(name: "truncated" options { [type.googleapis.com/diffuse.TruncatedOptions] {
      inner { name: "gaussian_vp" } num_steps: )", t_end, " } }");
}

std::string Estimate(const char* estimate) {
  return absl::StrCat(R"(name: "diffused_estimate" options {
      [type.googleapis.com/diffuse.DiffusedEstimatePriorOptions] { estimate: )", estimate, " } }");
}

MixtureQuality SampleQuality(int t_end, const char* estimate, int steps) {
  auto p = BuildOrFail(OracleText{.forward = Truncated(t_end),
                                  .prior = Estimate(estimate),
                                  .reverse = R"(name: "substitution")",
                                  .sampler = absl::StrCat("num_steps: ", steps)}
                           .Text());
  if (p == nullptr) return {};
  EXPECT_EQ(p->times.front(), t_end);
  const int64_t n = 4000;
  at::Generator gen = at::detail::createCPUGenerator(1);
  const at::Tensor reference = p->data->mixture()->Sample(n, gen);
  absl::StatusOr<Generated> g = Generate(*p, {.num = n, .seed = 3});
  EXPECT_THAT(g.status(), IsOk());
  return EvaluateAgainstMixture(g->samples, *p->data->mixture(), reference);
}

TEST(EarlyStopTest, ExactEstimateReproducesTheMixtureFromAnyTruncation) {
  for (int t_end : {100, 400}) {
    const MixtureQuality q = SampleQuality(t_end, "DATA_SAMPLES", 40);
    SCOPED_TRACE(q.ToString());
    // Tolerances as in sampler_test (exact samples: off-mode ~0.009, log-lik ~-2.49).
    EXPECT_LT(q.max_mode_error(), 0.025);
    EXPECT_LT(q.off_mode_fraction, 0.03);
    EXPECT_NEAR(q.mean_log_likelihood, -2.49, 0.08);
  }
}

TEST(EarlyStopTest, GaussianFitNeedsALaterStart) {
  const MixtureQuality early = SampleQuality(100, "GAUSSIAN_FIT", 40);
  const MixtureQuality late = SampleQuality(700, "GAUSSIAN_FIT", 40);
  SCOPED_TRACE("T'=100: " + early.ToString() + "\nT'=700: " + late.ToString());
  // At T' = 100 (alpha = 0.94) the broad Gaussian estimate survives: many samples between
  // modes. By T' = 700 (alpha = 0.16) the estimate's error is mostly noise and washed out.
  EXPECT_GT(early.off_mode_fraction, 0.2);
  EXPECT_LT(late.off_mode_fraction, 0.03);
  EXPECT_LT(late.max_mode_error(), 0.025);
}

TEST(EarlyStopTest, BuilderRejectsDataFreePriorsAndBadTruncation) {
  EXPECT_THAT(BuildFromText(OracleText{.forward = Truncated(300)}.Text()),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("prior 'standard_normal'")));
  EXPECT_THAT(
      BuildFromText(OracleText{.forward = Truncated(300), .prior = R"(name: "forward_terminal")"}
                        .Text()),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("diffused_estimate")));
  EXPECT_THAT(BuildFromText(OracleText{.forward = Truncated(1000), .prior = Estimate("DATA_SAMPLES")}
                                .Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_steps = 1000")));
  EXPECT_THAT(BuildFromText(OracleText{.forward = R"(name: "truncated" options {
      [type.googleapis.com/diffuse.TruncatedOptions] { inner { name: "flow" } num_steps: 5 } })",
                                       .prior = Estimate("DATA_SAMPLES")}
                                .Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("continuous time")));
}

}  // namespace
}  // namespace diffuse
