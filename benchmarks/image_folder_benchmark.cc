// Data "image_folder" against the training step it feeds: preparing the cache (decode, alpha
// over white, area resize to 32 x 32 RGB), loading it, drawing a batch of 64, and one
// training step of the default U-Net on those 3 x 32 x 32 batches. The data is the emoji
// set when IMAGE_FOLDER_MANIFEST names its manifest (tools/fetch_emoji.sh), else 1,024
// random 64 x 64 RGBA PNGs written to the temporary directory.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include <benchmark/benchmark.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn_like.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include "absl/strings/str_cat.h"
#include "benchmarks/bench_support.h"
#include "models/trainable_model.h"
#include "util/atomic_file.h"
#include "util/png.h"

namespace diffuse {
namespace {

std::string Manifest() {
  static const std::string manifest = [] {
    if (const char* given = std::getenv("IMAGE_FOLDER_MANIFEST")) return std::string(given);
    const char* tmp = std::getenv("TMPDIR");
    const std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/image_folder_bench");
    mkdir(dir.c_str(), 0755);
    std::mt19937 rng(0);
    std::string lines;
    for (int i = 0; i < 1024; ++i) {
      RgbImage image(64, 64, 0);
      for (uint8_t& v : image.pixels) v = static_cast<uint8_t>(rng());
      const std::string file = absl::StrCat(i, ".png");
      if (!WritePng(absl::StrCat(dir, "/", file), image).ok()) std::abort();
      lines += absl::StrCat("{\"file\": \"", file, "\", \"caption\": \"noise ", i % 10, "\"}\n");
    }
    if (!WriteFileAtomically(dir + "/manifest.jsonl", lines).ok()) std::abort();
    return dir + "/manifest.jsonl";
  }();
  return manifest;
}

std::string DataText() {
  return absl::StrCat(R"(data { name: "image_folder" options {
    [type.googleapis.com/diffuse.ImageFolderOptions] { manifest: ")", Manifest(),
                      R"(" size: 32 split: ALL caption_column: "caption" } } })");
}

std::string PipelineText() {
  return DataText() + R"(
    forward { name: "gaussian_vp" }
    predictor { name: "unet" }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
  )";
}

void BM_ImageFolderPrepareCache(benchmark::State& state) {
  for (auto _ : state) {
    std::remove((Manifest() + ".cache-32x3").c_str());
    benchmark::DoNotOptimize(BuildForBenchmark(PipelineText()));
  }
}
BENCHMARK(BM_ImageFolderPrepareCache)->Unit(benchmark::kMillisecond)->Iterations(1);

void BM_ImageFolderLoadCache(benchmark::State& state) {
  BuildForBenchmark(PipelineText());  // the cache exists
  for (auto _ : state) benchmark::DoNotOptimize(BuildForBenchmark(PipelineText()));
}
BENCHMARK(BM_ImageFolderLoadCache)->Unit(benchmark::kMillisecond);

void BM_ImageFolderSample64(benchmark::State& state) {
  auto p = BuildForBenchmark(PipelineText());
  at::Generator gen = at::detail::createCPUGenerator(0);
  for (auto _ : state) benchmark::DoNotOptimize(p->data->Sample(64, gen).x);
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_ImageFolderSample64)->Unit(benchmark::kMicrosecond);

// The default U-Net's training step on 64 images of 3 x 32 x 32 (as unet_benchmark's at
// 1 x 28 x 28), the denominator of the data share.
void BM_UNetTrainingStep32Rgb(benchmark::State& state) {
  auto p = BuildForBenchmark(PipelineText());
  TrainableModel& model = *p->predictor->trainable();
  torch::optim::Adam adam(model.module().parameters(), torch::optim::AdamOptions(1e-4));
  at::Generator gen = at::detail::createCPUGenerator(0);
  const DataBatch data = p->data->Sample(64, gen);
  const at::Tensor eps = at::randn_like(data.x);
  const Time t(at::randint(1, 1001, {64}, gen, at::kDouble));
  const TrainingExample e{data.x, eps, p->forward->Apply(data.x, t, eps), t, {}};
  auto step = [&] {
    adam.zero_grad();
    model.Loss(e).mean().backward();
    adam.step();
  };
  step();
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_UNetTrainingStep32Rgb)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diffuse
