#include "tools/import_scheduler.h"

#include <cmath>
#include <vector>

#include "assembly/builder.h"
#include "assembly/test_support.h"
#include "forward/gaussian_vp.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "util/atomic_file.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

std::string Config(const std::string& name) {
  absl::StatusOr<std::string> text = ReadFile("tools/scheduler_configs/" + name);
  EXPECT_THAT(text, IsOk());
  return text.ok() ? *text : "";
}

// The imported sections plus an exact oracle on the ring, built as `diffuse sample` would.
std::unique_ptr<Pipeline> BuildImported(const ImportedScheduler& imported) {
  absl::StatusOr<PipelineConfig> parsed = ParsePipelineText(imported.text, "imported");
  EXPECT_THAT(parsed, IsOk());
  if (!parsed.ok()) return nullptr;
  // The text round-trips to the same sections.
  EXPECT_EQ(parsed->DebugString(), imported.config.DebugString());
  absl::StatusOr<PipelineConfig> rest = ParsePipelineText(R"pb(
    data { name: "eight_gaussians" }
    predictor { name: "mixture_oracle" }
    prior { name: "standard_normal" options {
      [type.googleapis.com/diffuse.StandardNormalPriorOptions] { max_terminal_alpha: 0.1 } } }
  )pb", "rest");
  EXPECT_THAT(rest, IsOk());
  parsed->MergeFrom(*rest);
  absl::StatusOr<std::unique_ptr<Pipeline>> p = BuildPipeline(*parsed);
  EXPECT_THAT(p, IsOk());
  return p.ok() ? std::move(p).value() : nullptr;
}

// diffusers' alphas_cumprod, written out here: betas of the schedule, cumulative product.
std::vector<double> AlphasCumprod(bool scaled, double start, double end, int T) {
  std::vector<double> out;
  double prod = 1;
  for (int i = 0; i < T; ++i) {
    const double f = static_cast<double>(i) / (T - 1);
    const double beta = scaled ? std::pow(std::sqrt(start) + f * (std::sqrt(end) - std::sqrt(start)), 2)
                               : start + f * (end - start);
    prod *= 1 - beta;
    out.push_back(prod);
  }
  return out;
}

// Stable Diffusion's DDIM config: "leading" with steps_offset 1 gives timesteps
// 981, 961, ..., 1 (ours + 1), and set_alpha_to_one false ends at alphas_cumprod[0] (t = 1).
TEST(ImportSchedulerTest, StableDiffusionDdim) {
  absl::StatusOr<ImportedScheduler> imported =
      ImportScheduler(Config("ddim_stable_diffusion.json"), "ddim.json", 50);
  ASSERT_THAT(imported, IsOk());
  EXPECT_THAT(imported->text, HasSubstr("prediction_type \"epsilon\""));
  EXPECT_THAT(imported->text, HasSubstr("max_terminal_alpha"));  // SD ends at alpha 0.068
  std::unique_ptr<Pipeline> p = BuildImported(*imported);
  ASSERT_NE(p, nullptr);
  std::vector<double> want;
  for (int k = 49; k >= 0; --k) want.push_back(20 * k + 1 + 1);
  EXPECT_THAT(p->times, ElementsAreArray(want));
  EXPECT_EQ(p->config.sampler().end_time(), 1);
  EXPECT_EQ(p->config.sampler().clip_x0(), 0);
  const std::vector<double> ab = AlphasCumprod(true, 0.00085, 0.012, 1000);
  const GaussianCoefficients& g = *p->forward->gaussian();
  for (int k : {0, 1, 500, 981, 999}) {
    EXPECT_NEAR(g.Alpha(k + 1), std::sqrt(ab[k]), 1e-12) << k;
  }
  EXPECT_EQ(p->config.reverse().name(), "partial_substitution");
}

TEST(ImportSchedulerTest, DdpmClipsAndStepsEveryTimestep) {
  absl::StatusOr<ImportedScheduler> imported = ImportScheduler(Config("ddpm.json"), "ddpm.json", 1000);
  ASSERT_THAT(imported, IsOk());
  std::unique_ptr<Pipeline> p = BuildImported(*imported);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->times.size(), 1000u);
  EXPECT_EQ(p->times.front(), 1000);
  EXPECT_EQ(p->times.back(), 1);
  EXPECT_EQ(p->config.sampler().clip_x0(), 1);
  EXPECT_EQ(p->config.sampler().end_time(), 0);
  const std::vector<double> ab = AlphasCumprod(false, 1e-4, 0.02, 1000);
  EXPECT_NEAR(p->forward->gaussian()->Alpha(1000), std::sqrt(ab[999]), 1e-12);
}

// DPMSolverMultistep "linspace" with 20 steps: np.linspace(0, 999, 21).round()[::-1][:-1].
TEST(ImportSchedulerTest, DpmSolverMultistepLinspace) {
  absl::StatusOr<ImportedScheduler> imported =
      ImportScheduler(Config("dpmsolver_multistep.json"), "dpm.json", 20);
  ASSERT_THAT(imported, IsOk());
  EXPECT_THAT(imported->text, HasSubstr("parameterization: V"));
  std::unique_ptr<Pipeline> p = BuildImported(*imported);
  ASSERT_NE(p, nullptr);
  std::vector<double> want;
  for (int k = 20; k >= 1; --k) want.push_back(std::nearbyint(k * (999.0 / 20)) + 1);
  EXPECT_THAT(p->times, ElementsAreArray(want));
  EXPECT_EQ(p->config.reverse().name(), "dpmpp_2m");
}

// diffusers 0.33 writes flow_shift: 1.0 and the flow / exponential / beta sigma switches;
// at their no-op values they import. solver_order 3 is dpmpp_3m with the codes' weight.
TEST(ImportSchedulerTest, DpmSolverMultistepThirdOrderAsDiffusers033SavesIt) {
  std::string config = Config("dpmsolver_multistep_3m_0.33.json");
  absl::StatusOr<ImportedScheduler> imported = ImportScheduler(config, "dpm3.json", 12);
  ASSERT_THAT(imported, IsOk());
  std::unique_ptr<Pipeline> p = BuildImported(*imported);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->config.reverse().name(), "dpmpp_3m");
  EXPECT_THAT(imported->text, HasSubstr("third_order: PUBLISHED_CODE"));
  EXPECT_EQ(p->config.sampler().grid(), KARRAS);
  config.replace(config.find("\"flow_shift\": 1.0"), 17, "\"flow_shift\": 3.0");
  config.replace(config.find("\"algorithm_type\": \"dpmsolver++\""), 31,
                 "\"algorithm_type\": \"sde-dpmsolver++\"");
  imported = ImportScheduler(config, "dpm3.json", 12);
  ASSERT_THAT(imported, IsOk());
  EXPECT_THAT(imported->notes, HasSubstr("flow_shift 3 has no effect"));
  EXPECT_THAT(imported->notes, HasSubstr("first order"));
  p = BuildImported(*imported);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->config.reverse().name(), "dpmpp_3m_sde");
}

// UniPC "linspace" with steps_offset 1: the grid of DPMSolverMultistep's linspace.
TEST(ImportSchedulerTest, UniPcMultistep) {
  std::string config = Config("unipc_multistep_0.33.json");
  config.replace(config.find("\"disable_corrector\": []"), 23, "\"disable_corrector\": [0, 2]");
  config.replace(config.find("\"solver_type\": \"bh2\""), 20, "\"solver_type\": \"bh1\"");
  absl::StatusOr<ImportedScheduler> imported = ImportScheduler(config, "unipc.json", 20);
  ASSERT_THAT(imported, IsOk());
  std::unique_ptr<Pipeline> p = BuildImported(*imported);
  ASSERT_NE(p, nullptr);
  std::vector<double> want;
  for (int k = 20; k >= 1; --k) want.push_back(std::nearbyint(k * (999.0 / 20)) + 1);
  EXPECT_THAT(p->times, ElementsAreArray(want));
  EXPECT_EQ(p->config.reverse().name(), "unipc");
  EXPECT_THAT(imported->text, HasSubstr("variant: BH1"));
  EXPECT_THAT(imported->text, HasSubstr("disable_corrector: 2"));
  EXPECT_THAT(imported->notes, HasSubstr("NaN"));
}

// EulerDiscrete "linspace": fractional timesteps, sigma interpolated between steps.
TEST(ImportSchedulerTest, EulerDiscreteFractionalTimesWithSigmaInterpolation) {
  absl::StatusOr<ImportedScheduler> imported =
      ImportScheduler(Config("euler_discrete.json"), "euler.json", 30);
  ASSERT_THAT(imported, IsOk());
  std::unique_ptr<Pipeline> p = BuildImported(*imported);
  ASSERT_NE(p, nullptr);
  ASSERT_EQ(p->times.size(), 30u);
  const std::vector<double> ab = AlphasCumprod(true, 0.00085, 0.012, 1000);
  const GaussianCoefficients& g = *p->forward->gaussian();
  for (int k = 0; k < 30; ++k) {
    const double t = static_cast<float>((29 - k) * (999.0 / 29));  // numpy float32 linspace
    EXPECT_EQ(p->times[k], (k == 0 ? 999.0 : t) + 1);
    const int i = static_cast<int>(std::floor(p->times[k] - 1));
    const double f = p->times[k] - 1 - i;
    auto sigma = [&](int j) { return std::sqrt((1 - ab[j]) / ab[j]); };
    const double want = i + 1 < 1000 ? (1 - f) * sigma(i) + f * sigma(i + 1) : sigma(i);
    EXPECT_NEAR(g.Sigma(p->times[k]) / g.Alpha(p->times[k]), want, 1e-12 * want) << k;
  }
  EXPECT_EQ(p->config.reverse().name(), "euler");
}

TEST(ImportSchedulerTest, RefusesWhatItCannotReproduceByName) {
  std::string ddim = Config("ddim_stable_diffusion.json");
  // DDIM "linspace" with 10 steps steps from 999 to 899, not to the grid's 888.
  std::string linspace = ddim;
  linspace.replace(linspace.find("\"steps_offset\""), 0, "\"timestep_spacing\": \"linspace\", ");
  EXPECT_THAT(ImportScheduler(linspace, "s.json", 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("s.json: key 'timestep_spacing'")));
  std::string unknown = ddim;
  unknown.replace(unknown.find("\"steps_offset\""), 0, "\"warp_factor\": 9, ");
  EXPECT_THAT(ImportScheduler(unknown, "s.json", 50),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key 'warp_factor'")));
  std::string dpm = Config("dpmsolver_multistep.json");
  dpm.replace(dpm.find("\"solver_order\": 2"), 17, "\"solver_order\": 4");
  EXPECT_THAT(ImportScheduler(dpm, "d.json", 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key 'solver_order'")));
  // flow_shift changes nothing without flow sigmas; flow sigmas change the schedule.
  std::string flow = Config("dpmsolver_multistep_3m_0.33.json");
  flow.replace(flow.find("\"use_flow_sigmas\": false"), 24, "\"use_flow_sigmas\": true");
  EXPECT_THAT(ImportScheduler(flow, "f.json", 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key 'use_flow_sigmas'")));
  std::string unipc = Config("unipc_multistep_0.33.json");
  unipc.replace(unipc.find("\"predict_x0\": true"), 18, "\"predict_x0\": false");
  EXPECT_THAT(ImportScheduler(unipc, "u.json", 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key 'predict_x0'")));
  EXPECT_THAT(ImportScheduler("{\"_class_name\": \"PNDMScheduler\"}", "p.json", 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("PNDMScheduler")));
  EXPECT_THAT(ImportScheduler("{not json", "bad.json", 20),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.json")));
  EXPECT_THAT(ImportScheduler(ddim, "s.json", 1001),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("--num_steps")));
}

}  // namespace
}  // namespace diffuse
