// Every way a description can be wrong ends in a specific error naming the field.
#include "assembly/builder.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/zeros.h>

#include "absl/strings/str_replace.h"
#include "assembly/test_support.h"
#include "forward/forward_process.h"
#include "gtest/gtest.h"
#include "pipeline/registry.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// A test-only forward process that is neither Gaussian nor invertible: registering it here,
// with no edit anywhere else, is also how a user adds a component.
class ZeroOutForward : public ForwardProcess {
 public:
  DataKind data_kind() const override { return DataKind::kContinuous; }
  TimeDomain time_domain() const override { return {true, 10}; }
  at::Tensor Apply(const at::Tensor& x0, const Time&, const at::Tensor&) const override {
    return x0 * 0;
  }
  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return noise.Normal(shape);
  }
  at::Tensor InvertNoise(const at::Tensor&, const at::Tensor&, const Time&) const override {
    TORCH_CHECK(false, "not invertible");
  }
  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource&) const override {
    return at::zeros(shape);
  }
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> MakeZeroOut(const NoOptions&,
                                                            const BuildContext&) {
  return std::unique_ptr<ForwardProcess>(new ZeroOutForward);
}
DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "test_zero_out", NoOptions, MakeZeroOut);

std::string Replace(const std::string& text, const std::string& from, const std::string& to) {
  return absl::StrReplaceAll(text, {{from, to}});
}

TEST(BuilderTest, BuildsAValidDescription) {
  EXPECT_NE(BuildOrFail(OracleText().Text()), nullptr);
}

TEST(BuilderTest, UnknownNameListsWhatIsRegistered) {
  EXPECT_THAT(BuildFromText(OracleText{.reverse = R"(name: "ddim_typo")"}.Text()),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("reverse.name: unknown component 'ddim_typo'"),
                             HasSubstr("partial_substitution, predictor_corrector, resample, substitution"))));
  EXPECT_THAT(BuildFromText(OracleText{.forward = R"(name: "")"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("forward.name is empty")));
}

TEST(BuilderTest, MissingSectionIsNamed) {
  const std::string text = Replace(OracleText().Text(), R"(prior { name: "standard_normal" })", "");
  EXPECT_THAT(BuildFromText(text), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("no 'prior' section")));
}

TEST(BuilderTest, OptionOutOfRangeNamesComponentAndOption) {
  EXPECT_THAT(
      BuildFromText(OracleText{.forward = R"(name: "gaussian_vp" options {
          [type.googleapis.com/diffuse.GaussianVpOptions] { num_steps: -5 } })"}
                        .Text()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("forward 'gaussian_vp': option num_steps = -5 is out of range")));
  EXPECT_THAT(BuildFromText(OracleText{.reverse = R"(name: "partial_substitution" options {
          [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 1.5 } })"}
                                .Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("option eta = 1.5")));
}

TEST(BuilderTest, OptionsOfTheWrongTypeAreRejected) {
  EXPECT_THAT(BuildFromText(OracleText{.forward = R"(name: "gaussian_vp" options {
          [type.googleapis.com/diffuse.PartialSubstitutionOptions] { eta: 0.5 } })"}
                                .Text()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("forward.options: 'gaussian_vp' takes diffuse.GaussianVpOptions")));
}

TEST(BuilderTest, IncompatiblePairsAreRejectedOnce) {
  const OracleText zero{.forward = R"(name: "test_zero_out")"};
  // The oracle needs Gaussian coefficients.
  EXPECT_THAT(BuildFromText(zero.Text()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("predictor 'mixture_oracle': needs a forward process with "
                                 "Gaussian coefficients; forward 'test_zero_out' has none")));
  // eps-parameterization without Gaussian coefficients.
  const std::string mlp_eps = Replace(Replace(zero.Text(), R"(name: "mixture_oracle")",
                                              R"(name: "mlp")"),
                                      "sampler {", "sampler {");
  EXPECT_THAT(BuildFromText(mlp_eps),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("option parameterization EPS needs a forward process with "
                                 "Gaussian coefficients")));
  // x0-parameterization passes the predictor, then the prior and reverse checks bite.
  const std::string mlp_x0 = Replace(zero.Text(), R"(name: "mixture_oracle")",
                                     R"(name: "mlp" options {
          [type.googleapis.com/diffuse.MlpOptions] { parameterization: X0 } })");
  EXPECT_THAT(BuildFromText(mlp_x0),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("prior 'standard_normal': needs a Gaussian forward process")));
  const std::string no_prior_issue =
      Replace(mlp_x0, R"(prior { name: "standard_normal" })",
              R"(prior { name: "standard_normal" options {
          [type.googleapis.com/diffuse.StandardNormalPriorOptions] { max_terminal_alpha: 1 } } })");
  EXPECT_THAT(BuildFromText(no_prior_issue), StatusIs(absl::StatusCode::kFailedPrecondition,
                                                      HasSubstr("prior 'standard_normal'")));
}

TEST(BuilderTest, SubstitutionNeedsAnInvertibleForward) {
  // Build the pieces by hand: the prior check would stop a full description earlier.
  auto pipeline = BuildOrFail(OracleText().Text());
  ASSERT_NE(pipeline, nullptr);
  ZeroOutForward zero;
  EXPECT_THAT(pipeline->reverse->CheckCompatible(zero),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("invertible")));
}

TEST(BuilderTest, GaussianSolversNeedGaussianCoefficients) {
  for (const char* solver : {"euler", "heun", "dpmpp_2m", "dpmpp_3m", "dpmpp_2m_sde",
                             "dpmpp_3m_sde", "unipc", "euler_maruyama", "predictor_corrector"}) {
    auto pipeline = BuildOrFail(OracleText{.reverse = std::string("name: \"") + solver + "\""}.Text());
    ASSERT_NE(pipeline, nullptr);
    ZeroOutForward zero;
    EXPECT_THAT(pipeline->reverse->CheckCompatible(zero),
                StatusIs(absl::StatusCode::kFailedPrecondition,
                         HasSubstr("needs a forward process with Gaussian coefficients")))
        << solver;
  }
}

TEST(BuilderTest, EpsParameterizationIsRefusedWhereAlphaReachesZero) {
  const std::string flow_mlp = R"(
    data { name: "two_moons" }
    forward { name: "flow" }
    predictor { name: "mlp" }
    prior { name: "standard_normal" }
    reverse { name: "dpmpp_2m" })";
  EXPECT_THAT(BuildFromText(flow_mlp),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("EPS cannot recover x0 where alpha(t) = 0")));
}

TEST(BuilderTest, GuidanceChecksItsPredictor) {
  // Classifier-free guidance with the null condition needs a predictor trained with
  // condition dropout; the unconditional oracle accepts no labels at all.
  const std::string unconditional = R"(name: "mixture_oracle" options {
      [type.googleapis.com/diffuse.MixtureOracleOptions] { class_conditional: false } })";
  OracleText text{.guidance = R"(guidance { name: "classifier_free" })"};
  const std::string cfg = Replace(text.Text(), R"(name: "mixture_oracle")", unconditional);
  EXPECT_THAT(BuildFromText(cfg),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("guidance[0] 'classifier_free': needs a class-conditional")));
  text.guidance = R"(guidance { name: "classifier" options {
      [type.googleapis.com/diffuse.ClassifierGuidanceOptions] { classifier { name: "nope" } } } })";
  EXPECT_THAT(BuildFromText(text.Text()),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("guidance[0] 'classifier': options.classifier.name: unknown "
                                 "component 'nope'")));
}

TEST(BuilderTest, SamplerSettingsAreChecked) {
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "num_steps: 0"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.num_steps = 0")));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "labels: [1, 9]"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampler.labels[1] = 9: predictor 'mixture_oracle' and "
                                 "guidance accept classes [0, 8)")));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "batch_size: 0"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.batch_size")));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "clip_x0: -1"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sampler.clip_x0 = -1")));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "clip_x0: 1 dynamic_threshold: 1"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampler.dynamic_threshold = 1 is out of range [0, 1)")));
  EXPECT_THAT(BuildFromText(OracleText{.sampler = "dynamic_threshold: 0.995"}.Text()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampler.dynamic_threshold needs sampler.clip_x0 > 0")));
  EXPECT_THAT(BuildFromText(OracleText{.data = R"(name: "token_mixture")",
                                       .predictor = R"(name: "token_mixture_oracle")",
                                       .forward = R"(name: "masking" options {
                                           [type.googleapis.com/diffuse.MaskingOptions] {
                                           num_classes: 4 } })",
                                       .prior = R"(name: "forward_terminal")",
                                       .reverse = R"(name: "absorbing_posterior")",
                                       .sampler = "clip_x0: 1"}
                                .Text()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is tokens")));
}

TEST(BuilderTest, StepCountsAreBoundedOnContinuousAndKarrasGrids) {
  const std::string continuous = R"(name: "gaussian_vp" options {
      [type.googleapis.com/diffuse.GaussianVpOptions] { continuous_time: true } })";
  EXPECT_THAT(BuildFromText(OracleText{.forward = continuous, .sampler = "num_steps: 2147483647"}
                                .Text()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampler.num_steps = 2147483647 must be in [1, 100000]")));
  EXPECT_THAT(
      BuildFromText(OracleText{.forward = continuous, .sampler = "num_steps: 100000000 grid: KARRAS"}
                        .Text()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("sampler.num_steps = 100000000 must be in [1, 100000]")));
}

// A nested pipeline (the latent_ddim prior's) nested 100,000 times: a parse error naming the
// line, not a stack overflow.
TEST(BuilderTest, DeepNestingIsAnErrorNotACrash) {
  std::string text;
  const std::string open =
      "prior { name: 'latent_ddim' options { "
      "[type.googleapis.com/diffuse.LatentDdimPriorOptions] { pipeline { ";
  for (int i = 0; i < 100000; ++i) text += open;
  for (int i = 0; i < 100000; ++i) text += "} } } }";
  EXPECT_THAT(ParsePipelineText(text, "deep.pbtxt"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deep.pbtxt:1:")));
  std::string fields;  // plain message nesting, no Any
  for (int i = 0; i < 100000; ++i) fields += "prior { options { ";
  EXPECT_THAT(ParsePipelineText(fields, "deep2.pbtxt"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("deep2.pbtxt:1:")));
}

TEST(BuilderTest, MalformedTextNamesLineAndColumn) {
  EXPECT_THAT(ParsePipelineText("data { name: \"eight_gaussians\" }\nforward { nme: 3 }\n",
                                "bad.pbtxt"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("bad.pbtxt:2:"), HasSubstr("nme"))));
  EXPECT_THAT(LoadPipelineFile("/nonexistent/p.pbtxt"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/p.pbtxt")));
}

}  // namespace
}  // namespace diffuse
