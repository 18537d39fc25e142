#include "reverse/time_grid.h"

#include <cmath>
#include <vector>

#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const TimeDomain kT1000{true, 1000};

std::vector<double> Grid(TimeGrid grid, int n, int offset = 0) {
  absl::StatusOr<std::vector<double>> times = MakeTimeGrid(grid, n, offset, kT1000);
  EXPECT_THAT(times, IsOk());
  return times.ok() ? *times : std::vector<double>();
}

// Golden values: diffusers' DDIMScheduler.set_timesteps(10) with 1000 training steps gives
// linspace [999 888 ... 0], leading [900 800 ... 0] (+ steps_offset), trailing
// [999 899 ... 99]; our steps are theirs + 1.
TEST(TimeGridTest, MatchesDiffusersTimestepSpacing) {
  EXPECT_THAT(Grid(LINSPACE, 10),
              ElementsAre(1000, 889, 778, 667, 556, 445, 334, 223, 112, 1));
  EXPECT_THAT(Grid(LEADING, 10), ElementsAre(901, 801, 701, 601, 501, 401, 301, 201, 101, 1));
  EXPECT_THAT(Grid(LEADING, 10, /*offset=*/1),
              ElementsAre(902, 802, 702, 602, 502, 402, 302, 202, 102, 2));
  EXPECT_THAT(Grid(TRAILING, 10),
              ElementsAre(1000, 900, 800, 700, 600, 500, 400, 300, 200, 100));
  // numpy rounds half to even: linspace(0, 999, 3) = [0, 499.5, 999] -> [0, 500, 999].
  EXPECT_THAT(Grid(LINSPACE, 3), ElementsAre(1000, 501, 1));
  // T / N not an integer: trailing still has exactly N steps (numpy's arange may not).
  EXPECT_THAT(Grid(TRAILING, 3), ElementsAre(1000, 667, 333));
}

// Golden values from numpy 1.24: DPMSolverMultistepScheduler's "linspace",
// np.linspace(0, 999, N + 1).round()[::-1][:-1] (499.5 rounds to 500: numpy's ties go to
// even), and EulerDiscreteScheduler's np.linspace(0, 999, N, dtype=np.float32)[::-1].
TEST(TimeGridTest, MatchesDiffusersSolverLinspaces) {
  EXPECT_THAT(Grid(LINSPACE_OPEN, 10),
              ElementsAre(1000, 900, 800, 700, 600, 501, 401, 301, 201, 101));
  EXPECT_THAT(Grid(LINSPACE_OPEN, 25),
              ElementsAre(1000, 960, 920, 880, 840, 800, 760, 720, 680, 640, 600, 560,
                          520, 481, 441, 401, 361, 321, 281, 241, 201, 161, 121, 81, 41));
  EXPECT_THAT(Grid(LINSPACE_FRACTIONAL, 7),
              ElementsAre(1000, 833.5, 667, 500.5, 334, 167.5, 1));
  // float32 rounding of 999 k / 7 is kept, as numpy's dtype=float32 keeps it.
  EXPECT_THAT(Grid(LINSPACE_FRACTIONAL, 8),
              ElementsAre(1000, 857.2857055664062, 714.5714111328125, 571.8571166992188,
                          429.1428527832031, 286.4285583496094, 143.7142791748047, 1));
  EXPECT_FALSE(MakeTimeGrid(LINSPACE_OPEN, 10, 0, TimeDomain{false, 0}).ok());
}

// Property: for every N and grid, exactly N strictly decreasing steps within [1, T].
TEST(TimeGridTest, NStepsMeansExactlyNPredictorCallsForEveryN) {
  for (TimeGrid grid : {LINSPACE, LEADING, TRAILING, LINSPACE_OPEN, LINSPACE_FRACTIONAL}) {
    // LINSPACE_OPEN's N + 1 points are closer than 1 apart beyond T / 2: rounding repeats
    // steps there (diffusers drops the repeats and runs fewer steps; we refuse, below).
    const int max_n = grid == LINSPACE_OPEN ? 500 : 1000;
    for (int n = 1; n <= max_n; ++n) {
      absl::StatusOr<std::vector<double>> times = MakeTimeGrid(grid, n, 0, kT1000);
      ASSERT_THAT(times, IsOk()) << TimeGrid_Name(grid) << " n=" << n;
      ASSERT_EQ(times->size(), static_cast<size_t>(n));
      EXPECT_LE(times->front(), 1000);
      EXPECT_GE(times->back(), 1);
      for (int k = 1; k < n; ++k) ASSERT_LT((*times)[k], (*times)[k - 1]);
    }
  }
  EXPECT_THAT(MakeTimeGrid(LINSPACE_OPEN, 1000, 0, kT1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("strictly decreasing")));
  EXPECT_EQ(Grid(TRAILING, 1000).back(), 1);
  EXPECT_EQ(Grid(LINSPACE, 1000).front(), 1000);
}

// DDIM's "quad" (Song et al. 2021, code): int(linspace(0, sqrt(0.8 T), N)^2), +1 here.
TEST(TimeGridTest, QuadraticMatchesDdim) {
  EXPECT_THAT(Grid(QUADRATIC, 10), ElementsAre(801, 633, 484, 356, 247, 159, 89, 40, 10, 1));
  // Too many steps collide after truncation (DDIM would repeat a step); we refuse.
  EXPECT_THAT(MakeTimeGrid(QUADRATIC, 50, 0, kT1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("strictly decreasing")));
}

TEST(TimeGridTest, KarrasSpacesSigmaTildeAsEquationFive) {
  auto p = BuildOrFail(OracleText{.sampler = "num_steps: 12 grid: KARRAS rho: 7"}.Text());
  ASSERT_NE(p, nullptr);
  const GaussianCoefficients& g = *p->forward->gaussian();
  auto st = [&](double t) { return g.Sigma(t) / g.Alpha(t); };
  ASSERT_EQ(p->times.size(), 12u);
  EXPECT_NEAR(p->times.front(), 1000, 1e-6);
  EXPECT_NEAR(p->times.back(), 1, 1e-6);
  const double hi = std::pow(st(1000), 1 / 7.0), lo = std::pow(st(1), 1 / 7.0);
  for (int k = 0; k < 12; ++k) {
    const double want = std::pow(hi + k * (lo - hi) / 11, 7);
    EXPECT_NEAR(st(p->times[k]) / want, 1.0, 1e-6) << k;
  }
  // A process ending at alpha = 0 needs an explicit sigma_max.
  EXPECT_THAT(BuildFromText(OracleText{.forward = R"(name: "flow")",
                                       .sampler = "grid: KARRAS"}
                                .Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.sigma_max is required")));
  EXPECT_THAT(BuildFromText(OracleText{.forward = R"(name: "flow")",
                                       .sampler = "grid: KARRAS sigma_max: 50 num_steps: 20"}
                                .Text()),
              IsOk());
}

TEST(TimeGridTest, ContinuousTimeIsUniformOnTheUnitInterval) {
  absl::StatusOr<std::vector<double>> times = MakeTimeGrid(TRAILING, 4, 0, {false, 0});
  ASSERT_THAT(times, IsOk());
  EXPECT_THAT(*times, ElementsAre(1.0, 0.75, 0.5, 0.25));
}

TEST(TimeGridTest, RejectsImpossibleGridsNamingTheField) {
  EXPECT_THAT(MakeTimeGrid(TRAILING, 0, 0, kT1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.num_steps")));
  EXPECT_THAT(MakeTimeGrid(TRAILING, 1001, 0, kT1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.num_steps")));
  EXPECT_THAT(MakeTimeGrid(LEADING, 10, 100, kT1000),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("steps_offset = 100")));
}

}  // namespace
}  // namespace diffuse

namespace diffuse {
namespace {

TEST(TimeGridTest, AnExplicitSubsequenceIsUsedAsGiven) {
  auto p = BuildOrFail(OracleText{.sampler = "timesteps: [999, 700, 301, 42, 1]"}.Text());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->times, (std::vector<double>{999, 700, 301, 42, 1}));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "timesteps: [500, 600]"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.timesteps[1] = 600")));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "timesteps: [2000]"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.timesteps[0] = 2000")));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "num_steps: 3 timesteps: [5, 1]"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 entries")));
}

}  // namespace
}  // namespace diffuse
