#include "eval/fashion_classifier.h"
#include "eval/fashion_classifier_net.h"

#include <sys/stat.h>

#include <cstdio>
#include <csignal>
#include <fstream>
#include <utility>

#include <gtest/gtest.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/zeros.h>

#include "data/fashion_mnist_files.h"
#include "eval/image_quality.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

// Writes an uncompressed IDX file (ReadIdxFile reads plain and gzip alike).
void WriteIdx(const std::string& path, const std::vector<int32_t>& dims, const at::Tensor& bytes) {
  std::ofstream out(path, std::ios::binary);
  const unsigned char magic[4] = {0, 0, 8, static_cast<unsigned char>(dims.size())};
  out.write(reinterpret_cast<const char*>(magic), 4);
  for (int32_t d : dims) {
    const unsigned char be[4] = {static_cast<unsigned char>(d >> 24),
                                 static_cast<unsigned char>(d >> 16),
                                 static_cast<unsigned char>(d >> 8), static_cast<unsigned char>(d)};
    out.write(reinterpret_cast<const char*>(be), 4);
  }
  const at::Tensor c = bytes.to(at::kByte).contiguous();
  out.write(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), c.numel());
}

// A small copy of Fashion-MNIST: the first n_train training and n_test test images.
std::string SmallFashionMnist(int32_t n_train, int32_t n_test) {
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/small_fmnist";
  mkdir(dir.c_str(), 0755);
  for (bool train : {true, false}) {
    absl::StatusOr<FashionMnistSplit> split = ReadFashionMnist(kFashionMnistDir, train);
    EXPECT_THAT(split, IsOk());
    const int32_t n = train ? n_train : n_test;
    const std::string prefix = dir + (train ? "/train" : "/t10k");
    WriteIdx(prefix + "-images-idx3-ubyte.gz", {n, 28, 28}, split->images.slice(0, 0, n));
    WriteIdx(prefix + "-labels-idx1-ubyte.gz", {n}, split->labels.slice(0, 0, n));
  }
  return dir;
}

TEST(FashionClassifierTest, ShapesOfFeaturesAndLogits) {
  FashionClassifier model;
  const at::Tensor x = at::zeros({3, 1, 28, 28});
  EXPECT_EQ(model->Features(x).sizes(), (std::vector<int64_t>{3, FashionClassifierImpl::kFeatures}));
  EXPECT_EQ(model->forward(x).sizes(), (std::vector<int64_t>{3, 10}));
}

TEST(FashionClassifierTest, LearnsFromAFewStepsResumesAndRejectsBadCheckpoints) {
  const std::string data = SmallFashionMnist(3000, 1000);
  const std::string dir = std::string(getenv("TEST_TMPDIR")) + "/classifier";
  ClassifierTrainingOptions options;
  options.data_dir = data;
  options.epochs = 2;
  options.batch_size = 100;
  ASSERT_OK_AND_ASSIGN(ClassifierReport report, TrainFashionClassifier(options, dir, nullptr));
  EXPECT_EQ(report.steps, 60);
  EXPECT_GT(report.test_accuracy, 0.6);  // chance is 0.1

  // Complete: a second run trains nothing and reports the same accuracy.
  ASSERT_OK_AND_ASSIGN(ClassifierReport again, TrainFashionClassifier(options, dir, nullptr));
  EXPECT_EQ(again.steps, 60);
  EXPECT_DOUBLE_EQ(again.test_accuracy, report.test_accuracy);

  // Other options in the same directory: refused, not silently mixed.
  options.learning_rate = 0.01;
  EXPECT_THAT(TrainFashionClassifier(options, dir, nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("learning_rate 0.01")));

  // Loaded, it scores images; the Fréchet distance of the test images to themselves is 0.
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<FashionClassifierImpl> loaded,
                       LoadFashionClassifier(dir + "/classifier.pt"));
  ASSERT_OK_AND_ASSIGN(FashionMnistSplit test, ReadFashionMnist(data, false));
  const at::Tensor images = FashionMnistToFloat(test.images);
  ASSERT_OK_AND_ASSIGN(FeatureStatistics reference,
                       ComputeFeatureStatistics(Classify(*loaded, images).features));
  ASSERT_OK_AND_ASSIGN(ImageQuality q, EvaluateImages(*loaded, images, test.labels, reference));
  EXPECT_NEAR(q.accuracy, report.test_accuracy, 1e-12);
  EXPECT_NEAR(q.frechet_distance, 0.0, 1e-4);  // float32 features, trace ~1e3
  // Noise is far from clothes.
  at::Generator gen = at::detail::createCPUGenerator(0);
  ASSERT_OK_AND_ASSIGN(ImageQuality noise,
                       EvaluateImages(*loaded, at::rand({1000, 1, 28, 28}, gen) * 2 - 1,
                                      at::Tensor(), reference));
  EXPECT_LT(noise.accuracy, 0);
  EXPECT_GT(noise.frechet_distance, 10 * q.frechet_distance + 1.0);
  EXPECT_THAT(EvaluateImages(*loaded, at::zeros({4, 3, 28, 28}), at::Tensor(), reference),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("[N, 1, 28, 28]")));

  // A truncated checkpoint is a DATA_LOSS naming the file.
  const std::string truncated = dir + "/truncated.pt";
  {
    std::ifstream in(dir + "/classifier.pt", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), bytes.size() / 2);
  }
  EXPECT_THAT(LoadFashionClassifier(truncated),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr(truncated)));
  EXPECT_THAT(LoadFashionClassifier(dir + "/missing.pt"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.pt")));
}

// A stream that raises `signal` when the progress line number `line` (from 1) begins.
class RaiseAtLine : public std::streambuf {
 public:
  RaiseAtLine(int signal, int line) : signal_(signal), lines_left_(line - 1) {}
 protected:
  int overflow(int c) override {
    if (lines_left_ == 0 && signal_ != 0) std::raise(std::exchange(signal_, 0));
    if (c == '\n') --lines_left_;
    return c;
  }
 private:
  int signal_, lines_left_;
};

TEST(FashionClassifierTest, SigtermMidEpochWritesACheckpointAndResumesExactly) {
  ClassifierTrainingOptions options;
  options.data_dir = SmallFashionMnist(1000, 200);
  options.epochs = 2;
  options.batch_size = 100;
  // Progress lines after steps 7, 10 (the end of epoch 1) and 14: the signal arrives as the
  // third begins, inside the second epoch.
  options.log_every = 7;
  const std::string tmp = getenv("TEST_TMPDIR");
  ASSERT_OK_AND_ASSIGN(ClassifierReport straight,
                       TrainFashionClassifier(options, tmp + "/straight", nullptr));
  RaiseAtLine raiser(SIGTERM, 3);
  std::ostream progress(&raiser);
  EXPECT_THAT(TrainFashionClassifier(options, tmp + "/stopped", &progress),
              StatusIs(absl::StatusCode::kCancelled,
                       HasSubstr("stopped by Terminated after step 14 of 20; checkpoint written")));
  ASSERT_OK_AND_ASSIGN(ClassifierReport resumed,
                       TrainFashionClassifier(options, tmp + "/stopped", nullptr));
  EXPECT_EQ(resumed.test_accuracy, straight.test_accuracy);
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<FashionClassifierImpl> a,
                       LoadFashionClassifier(tmp + "/straight/classifier.pt"));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<FashionClassifierImpl> b,
                       LoadFashionClassifier(tmp + "/stopped/classifier.pt"));
  for (size_t i = 0; i < a->parameters().size(); ++i) {
    EXPECT_TRUE(at::equal(a->parameters()[i], b->parameters()[i])) << i;
  }
}

TEST(FashionClassifierTest, MissingDataNamesTheFile) {
  ClassifierTrainingOptions options;
  options.data_dir = "/nonexistent";
  EXPECT_THAT(TrainFashionClassifier(options, std::string(getenv("TEST_TMPDIR")) + "/x", nullptr),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("/nonexistent/train-images")));
}

}  // namespace
}  // namespace diffuse
