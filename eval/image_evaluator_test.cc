// The image evaluator on an image folder it writes: two attributes the pixels show (the
// colour, and which half is painted) are learned to near-perfect held-out accuracy; the
// checkpoint reloads to the same outputs; wrong shapes and other checkpoints are refused.
#include "eval/image_evaluator.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "data/image_folder.pb.h"
#include "gtest/gtest.h"
#include "pipeline/pipeline.pb.h"
#include "pipeline/registry.h"
#include "training/checkpoint.h"
#include "util/atomic_file.h"
#include "util/png.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<Dataset> Folder(const std::string& dir, const std::string& split) {
  ImageFolderOptions o;
  o.set_manifest(dir + "/m.jsonl");
  o.set_size(16);
  o.set_test_permille(300);
  o.add_attribute_columns("colour");
  o.add_attribute_columns("half");
  ImageFolderOptions::Split which;
  EXPECT_TRUE(ImageFolderOptions::Split_Parse(split, &which));
  o.set_split(which);
  ComponentSpec spec;
  spec.set_name("image_folder");
  spec.mutable_options()->PackFrom(o);
  BuildContext context;
  absl::StatusOr<std::unique_ptr<Dataset>> data =
      Registry<Dataset>::Global().Create(spec, "data", context);
  EXPECT_THAT(data, IsOk());
  return data.ok() ? *std::move(data) : nullptr;
}

TEST(ImageEvaluatorTest, LearnsWhatThePixelsShowAndReloads) {
  const std::string dir = absl::StrCat(getenv("TEST_TMPDIR"), "/folder");
  mkdir(dir.c_str(), 0755);
  std::string manifest;
  for (int i = 0; i < 80; ++i) {
    const bool red = i % 2 == 0, top = (i / 2) % 2 == 0;
    const int shade = 150 + i;  // every picture differs a little
    RgbImage image(16, 16, 255);
    for (int y = top ? 0 : 8; y < (top ? 8 : 16); ++y) {
      for (int x = 0; x < 16; ++x) image.Set(x, y, red ? shade : 0, 0, red ? 0 : shade);
    }
    const std::string file = absl::StrCat("p", i, ".png");
    ASSERT_THAT(WritePng(dir + "/" + file, image), IsOk());
    absl::StrAppend(&manifest, R"({"file": ")", file, R"(", "colour": ")",
                    red ? "red" : "blue", R"(", "half": ")", top ? "top" : "bottom", "\"}\n");
  }
  ASSERT_THAT(WriteFileAtomically(dir + "/m.jsonl", manifest), IsOk());
  std::unique_ptr<Dataset> train = Folder(dir, "TRAIN"), test = Folder(dir, "TEST");
  ASSERT_NE(train, nullptr);
  ASSERT_NE(test, nullptr);
  ASSERT_GT(test->num_examples(), 5);

  EvaluatorTrainingOptions options;
  options.epochs = 30;
  options.batch_size = 16;
  options.seed = 3;
  const std::string out = absl::StrCat(getenv("TEST_TMPDIR"), "/evaluator");
  absl::StatusOr<EvaluatorReport> report = TrainImageEvaluator(*train, *test, options, out, nullptr);
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->test_accuracy.size(), 2u);
  EXPECT_GE(report->test_accuracy[0], 0.9);
  EXPECT_GE(report->test_accuracy[1], 0.9);

  absl::StatusOr<ImageEvaluator> loaded = LoadImageEvaluator(out + "/evaluator.pt");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(loaded->shape, (std::vector<int64_t>{3, 16, 16}));
  ASSERT_EQ(loaded->heads.size(), 2u);
  EXPECT_EQ(loaded->heads[0].name, "colour");
  EXPECT_EQ(loaded->heads[0].values, (std::vector<std::string>{"blue", "red"}));
  const DataBatch held_out = test->Examples(0, test->num_examples());
  absl::StatusOr<EvaluatorOutputs> outputs = Evaluate(*loaded, held_out.x);
  ASSERT_THAT(outputs, IsOk());
  EXPECT_EQ(outputs->features.size(1), 256);
  const double agree = outputs->logits[0].argmax(1).eq(held_out.attributes.select(1, 0))
                           .to(torch::kDouble).mean().item<double>();
  EXPECT_DOUBLE_EQ(agree, report->test_accuracy[0]);

  // A second call finds the finished checkpoint and trains no further.
  absl::StatusOr<EvaluatorReport> again = TrainImageEvaluator(*train, *test, options, out, nullptr);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->steps, report->steps);
  EXPECT_EQ(again->test_accuracy, report->test_accuracy);

  EXPECT_THAT(Evaluate(*loaded, torch::zeros({2, 1, 16, 16})).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the evaluator reads images [N, 3, 16, 16], got [2, 1, 16, 16]")));
  torch::nn::Linear other(2, 2);
  torch::optim::Adam adam(other->parameters());
  TrainingState state;
  state.pipeline_text = "data { name: 'eight_gaussians' }";
  const std::string foreign = absl::StrCat(getenv("TEST_TMPDIR"), "/foreign.pt");
  ASSERT_THAT(SaveCheckpoint(foreign, *other, adam, state), IsOk());
  EXPECT_THAT(LoadImageEvaluator(foreign).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not an image evaluator checkpoint")));
}

}  // namespace
}  // namespace diffuse
