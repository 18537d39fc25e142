#include "training/checkpoint.h"

#include <cstdlib>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "training/legacy_checkpoint.h"
#include "util/atomic_file.h"
#include "util/checksummed.h"
#include "util/safetensors.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

// A module with a nested child, a buffer and amsgrad Adam, after `steps` optimizer steps.
struct Trained {
  torch::nn::Sequential net{torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4),
                            torch::nn::Linear(4, 2)};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  TrainingState state;

  Trained(bool adamw, int steps, uint64_t seed) {
    at::manual_seed(seed);
    net = torch::nn::Sequential(torch::nn::Linear(3, 4), torch::nn::BatchNorm1d(4),
                                torch::nn::Linear(4, 2));
    if (adamw) {
      optimizer = std::make_unique<torch::optim::AdamW>(
          net->parameters(), torch::optim::AdamWOptions(0.01).amsgrad(true));
    } else {
      optimizer = std::make_unique<torch::optim::Adam>(net->parameters(),
                                                       torch::optim::AdamOptions(0.01));
    }
    at::Generator gen = at::detail::createCPUGenerator(seed);
    for (int i = 0; i < steps; ++i) Step(gen);
    state.step = steps;
    state.generator_state = gen.get_state();
    state.pipeline_text = "test pipeline";
    for (const at::Tensor& p : net->parameters()) state.ema.push_back(p.detach().clone() * 0.5);
  }

  void Step(at::Generator& gen) {
    const at::Tensor x = torch::randn({8, 3}, gen);
    optimizer->zero_grad();
    net->forward(x).square().mean().backward();
    optimizer->step();
  }
};

std::vector<at::Tensor> All(torch::nn::Module& m) {
  std::vector<at::Tensor> out = m.parameters();
  for (const at::Tensor& b : m.buffers()) out.push_back(b);
  return out;
}

void ExpectEqual(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << i;
}

// The checkpointed run and a fresh module resumed from the file take identical next steps:
// weights, buffers, Adam moments (and amsgrad's maximum), step counts and generator state.
void ExpectExactResume(bool adamw) {
  const std::string path = TempPath(adamw ? "resume_adamw.pt" : "resume_adam.pt");
  Trained a(adamw, 5, 1);
  ASSERT_THAT(SaveCheckpoint(path, *a.net, *a.optimizer, a.state), IsOk());
  Trained b(adamw, 0, 2);  // other initial weights
  TrainingState loaded;
  ASSERT_THAT(LoadCheckpoint(path, *b.net, b.optimizer.get(), &loaded), IsOk());
  EXPECT_EQ(loaded.step, 5);
  EXPECT_EQ(loaded.pipeline_text, "test pipeline");
  ExpectEqual(loaded.ema, a.state.ema);
  ExpectEqual(All(*b.net), All(*a.net));
  at::Generator ga = at::detail::createCPUGenerator(0), gb = at::detail::createCPUGenerator(0);
  ga.set_state(a.state.generator_state);
  gb.set_state(loaded.generator_state);
  for (int i = 0; i < 3; ++i) {
    a.Step(ga);
    b.Step(gb);
  }
  ExpectEqual(All(*b.net), All(*a.net));
}

TEST(CheckpointTest, AdamResumesExactly) { ExpectExactResume(false); }
TEST(CheckpointTest, AmsgradAdamWResumesExactly) { ExpectExactResume(true); }

TEST(CheckpointTest, TheFileIsAHeaderLineAndSafetensors) {
  const std::string path = TempPath("layout.pt");
  Trained a(false, 2, 1);
  ASSERT_THAT(SaveCheckpoint(path, *a.net, *a.optimizer, a.state), IsOk());
  const std::string file = ReadFile(path).value();
  ASSERT_EQ(HeaderWord(file), "diffuse-checkpoint-v3");
  absl::StatusOr<Safetensors> blob = DecodeSafetensors(file.substr(file.find('\n') + 1), "t");
  ASSERT_THAT(blob, IsOk());
  EXPECT_EQ(blob->metadata.at("optimizer"), "Adam");
  EXPECT_EQ(blob->metadata.at("step"), "2");
  int adam_entries = 0;
  for (const auto& [name, t] : blob->tensors) adam_entries += name.rfind("adam/", 0) == 0;
  EXPECT_EQ(adam_entries, 6 * 3);  // 6 parameters (BatchNorm's too): step, exp_avg, exp_avg_sq
}

// Rewrites the checkpoint at `path` with `edit` applied to its blob (a valid checksum, so
// that the loader's own checks are what refuses it).
template <typename Edit>
void Rewrite(const std::string& path, Edit edit) {
  const std::string file = ReadFile(path).value();
  Safetensors blob = DecodeSafetensors(file.substr(file.find('\n') + 1), path).value();
  edit(blob);
  ASSERT_THAT(WriteFileAtomically(
                  path, WithChecksumHeader("diffuse-checkpoint-v3",
                                           EncodeSafetensors(blob, path).value())),
              IsOk());
}

class RefusedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(SaveCheckpoint(path_, *saved_.net, *saved_.optimizer, saved_.state), IsOk());
  }
  // Loads into a fresh module, expecting `code` and `message`; the module is left as it was.
  void ExpectRefused(absl::StatusCode code, const std::string& message) {
    Trained fresh(false, 0, 2);
    const std::vector<at::Tensor> before = All(*fresh.net);
    std::vector<at::Tensor> copies;
    for (const at::Tensor& t : before) copies.push_back(t.clone());
    TrainingState state;
    EXPECT_THAT(LoadCheckpoint(path_, *fresh.net, fresh.optimizer.get(), &state),
                StatusIs(code, AllOf(HasSubstr(path_), HasSubstr(message))));
    ExpectEqual(All(*fresh.net), copies);
    EXPECT_TRUE(fresh.optimizer->state().empty());
  }
  const std::string path_ = TempPath("refused.pt");
  Trained saved_{false, 3, 1};
};

TEST_F(RefusedTest, AFlippedByte) {
  std::string file = ReadFile(path_).value();
  file[file.size() / 2] ^= 0x01;
  ASSERT_THAT(WriteFileAtomically(path_, file), IsOk());
  ExpectRefused(absl::StatusCode::kDataLoss, "is corrupted: CRC-32");
}

TEST_F(RefusedTest, ATruncatedCopy) {
  const std::string file = ReadFile(path_).value();
  ASSERT_THAT(WriteFileAtomically(path_, file.substr(0, file.size() - 10)), IsOk());
  ExpectRefused(absl::StatusCode::kDataLoss, "is truncated");
}

TEST_F(RefusedTest, AParameterOfAnotherShape) {
  Rewrite(path_, [](Safetensors& s) {
    for (auto& [name, t] : s.tensors) {
      if (name == "param/2.weight") t = torch::zeros({3, 4});
    }
  });
  ExpectRefused(absl::StatusCode::kInvalidArgument,
                "parameter '2.weight' is [3, 4] there, [2, 4] here");
}

TEST_F(RefusedTest, AMissingParameter) {
  Rewrite(path_, [](Safetensors& s) {
    for (auto it = s.tensors.begin(); it != s.tensors.end(); ++it) {
      if (it->first == "param/0.weight") {
        s.tensors.erase(it);
        break;
      }
    }
  });
  ExpectRefused(absl::StatusCode::kInvalidArgument, "parameter '0.weight' is missing there");
}

TEST_F(RefusedTest, AParameterThisNetworkLacks) {
  Rewrite(path_, [](Safetensors& s) { s.tensors.emplace_back("param/3.weight", torch::ones({1})); });
  ExpectRefused(absl::StatusCode::kInvalidArgument, "'param/3.weight' there has no counterpart");
}

TEST_F(RefusedTest, AdamStateOfAnotherShape) {
  Rewrite(path_, [](Safetensors& s) {
    for (auto& [name, t] : s.tensors) {
      if (name == "adam/0.bias/exp_avg") t = torch::zeros({5});
    }
  });
  ExpectRefused(absl::StatusCode::kInvalidArgument, "adam/0.bias/exp_avg is [5] there, [4] here");
}

TEST_F(RefusedTest, AnotherOptimizer) {
  Rewrite(path_, [](Safetensors& s) { s.metadata["optimizer"] = "AdamW"; });
  ExpectRefused(absl::StatusCode::kInvalidArgument, "holds AdamW state; this run uses Adam");
}

TEST_F(RefusedTest, AGeneratorStateOfAnotherSize) {
  Rewrite(path_, [](Safetensors& s) {
    for (auto& [name, t] : s.tensors) {
      if (name == "generator_state") t = t.slice(0, 0, 100).clone();
    }
  });
  ExpectRefused(absl::StatusCode::kDataLoss, "generator_state is Byte[100]");
}

TEST_F(RefusedTest, ANegativeStep) {
  Rewrite(path_, [](Safetensors& s) { s.metadata["step"] = "-4"; });
  ExpectRefused(absl::StatusCode::kDataLoss, "lacks its format, pipeline, optimizer or step");
}

TEST_F(RefusedTest, AVersion2FileNamesTheUpgradeCommand) {
  ASSERT_THAT(SaveLegacyCheckpoint(path_, *saved_.net, *saved_.optimizer, saved_.state), IsOk());
  ExpectRefused(absl::StatusCode::kFailedPrecondition,
                "is in the v2 format (a LibTorch archive, which this version reads only to "
                "convert it); run `diffuse upgrade-checkpoint --checkpoint=");
}

TEST(CheckpointTest, SamplingIgnoresTheOptimizerStateButNotExtraWeights) {
  const std::string path = TempPath("sampling.pt");
  Trained a(true, 2, 1);
  ASSERT_THAT(SaveCheckpoint(path, *a.net, *a.optimizer, a.state), IsOk());
  Trained b(false, 0, 2);
  TrainingState state;
  ASSERT_THAT(LoadCheckpoint(path, *b.net, nullptr, &state), IsOk());
  ExpectEqual(All(*b.net), All(*a.net));
}

}  // namespace
}  // namespace diffuse
