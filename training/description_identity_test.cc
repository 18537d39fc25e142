#include "training/description_identity.h"

#include <string>

#include "assembly/builder.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

PipelineConfig Config(const std::string& unet, const std::string& sampler,
                      const std::string& training) {
  absl::StatusOr<PipelineConfig> c = ParsePipelineText(
      "data { name: 'fashion_mnist' }\n"
      "forward { name: 'gaussian_vp' }\n"
      "predictor { name: 'unet' options { [type.googleapis.com/diffuse.UNetOptions] { " +
          unet + " } } }\n"
          "reverse { name: 'substitution' }\n"
          "sampler { " + sampler + " }\n"
          "training { " + training + " }\n",
      "test");
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

TEST(DescriptionIdentityTest, TheSameDescriptionHasNoDifference) {
  const PipelineConfig a = Config("base_channels: 32", "num_steps: 50", "steps: 100");
  EXPECT_EQ(DescriptionDifference(a, a, CheckpointUse::kWeights), "");
  EXPECT_EQ(DescriptionDifference(a, a, CheckpointUse::kResume), "");
}

TEST(DescriptionIdentityTest, AnotherWidthIsNamedWithBothValues) {
  const PipelineConfig trained = Config("base_channels: 32", "num_steps: 50", "steps: 100");
  const PipelineConfig used = Config("base_channels: 64", "num_steps: 50", "steps: 100");
  for (CheckpointUse use : {CheckpointUse::kWeights, CheckpointUse::kResume}) {
    EXPECT_THAT(DescriptionDifference(trained, used, use),
                AllOf(HasSubstr("predictor.options"), HasSubstr("base_channels"),
                      HasSubstr("32 in the checkpoint, 64 here")));
  }
  const PipelineConfig unset = Config("", "num_steps: 50", "steps: 100");
  EXPECT_THAT(DescriptionDifference(trained, unset, CheckpointUse::kWeights),
              HasSubstr("base_channels: 32 in the checkpoint, unset here"));
}

TEST(DescriptionIdentityTest, SamplingSectionsAreFreeForWeightsAndStepCountsForResume) {
  const PipelineConfig trained =
      Config("base_channels: 32", "num_steps: 50", "steps: 100 learning_rate: 0.001");
  const PipelineConfig sampling =
      Config("base_channels: 32", "num_steps: 20", "steps: 100 learning_rate: 0.002");
  EXPECT_EQ(DescriptionDifference(trained, sampling, CheckpointUse::kWeights), "");
  EXPECT_THAT(DescriptionDifference(trained, sampling, CheckpointUse::kResume),
              HasSubstr("training.learning_rate: 0.001 in the checkpoint, 0.002 here"));
  const PipelineConfig longer =
      Config("base_channels: 32", "num_steps: 20", "steps: 400 learning_rate: 0.001");
  EXPECT_EQ(DescriptionDifference(trained, longer, CheckpointUse::kResume), "");
  PipelineConfig other_forward = trained;
  other_forward.mutable_forward()->set_name("gaussian_ve");
  EXPECT_THAT(DescriptionDifference(trained, other_forward, CheckpointUse::kWeights),
              HasSubstr("forward.name: \"gaussian_vp\" in the checkpoint, \"gaussian_ve\" here"));
}

// ES-DDPM samples a network trained on the full process with forward "truncated" at any
// T'; resuming training keeps the process exactly.
TEST(DescriptionIdentityTest, WeightsOfAProcessServeItsTruncation) {
  const PipelineConfig trained = Config("base_channels: 32", "num_steps: 50", "steps: 100");
  PipelineConfig truncated = trained;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "name: 'truncated' options { [type.googleapis.com/diffuse.TruncatedOptions] { "
      "inner { name: 'gaussian_vp' } num_steps: 600 } }",
      truncated.mutable_forward()));
  EXPECT_EQ(DescriptionDifference(trained, truncated, CheckpointUse::kWeights), "");
  EXPECT_THAT(DescriptionDifference(trained, truncated, CheckpointUse::kResume),
              HasSubstr("forward.name"));
  PipelineConfig other_inner = truncated;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(
      "name: 'truncated' options { [type.googleapis.com/diffuse.TruncatedOptions] { "
      "inner { name: 'gaussian_ve' } num_steps: 600 } }",
      other_inner.mutable_forward()));
  EXPECT_THAT(DescriptionDifference(trained, other_inner, CheckpointUse::kWeights),
              HasSubstr("forward.name: \"gaussian_vp\" in the checkpoint, \"gaussian_ve\" here"));
}

// A prior that supplies the training examples' x_hat (DiffuseVAE) is bound on resume; other
// priors (a later stage's model of z) are not.
TEST(DescriptionIdentityTest, APriorThatTrainsIsBoundOnResume) {
  PipelineConfig trained = Config("base_channels: 32", "num_steps: 50", "steps: 100");
  trained.mutable_prior()->set_name("standard_normal");
  PipelineConfig other = trained;
  other.mutable_prior()->set_name("diffused_estimate");
  EXPECT_EQ(DescriptionDifference(trained, other, CheckpointUse::kResume), "");
  EXPECT_EQ(DescriptionDifference(trained, trained, CheckpointUse::kResumeWithTrainingPrior), "");
  EXPECT_THAT(DescriptionDifference(trained, other, CheckpointUse::kResumeWithTrainingPrior),
              AllOf(HasSubstr("prior.name"), HasSubstr("diffused_estimate")));
}

TEST(DescriptionIdentityTest, CheckTrainedFromNamesTheFile) {
  const PipelineConfig used = Config("base_channels: 64", "num_steps: 50", "steps: 100");
  EXPECT_THAT(CheckTrainedFrom("ck.pt",
                               "data { name: 'fashion_mnist' } forward { name: 'gaussian_vp' } "
                               "predictor { name: 'unet' }",
                               used, CheckpointUse::kWeights),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("checkpoint ck.pt was trained from another description"),
                             HasSubstr("predictor.options"))));
  EXPECT_THAT(CheckTrainedFrom("ck.pt", "predictor { nme: 'x' }", used, CheckpointUse::kWeights),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("ck.pt")));
}

}  // namespace
}  // namespace diffuse
