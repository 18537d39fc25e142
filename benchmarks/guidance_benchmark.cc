// The cost of one guided prediction at Fashion-MNIST scale, per batch of 64 (the default
// U-Net of fashion_mnist_v.pbtxt at t = 500): unguided, CLIP guidance with a noise-aware
// text-image model (a backward pass through the image encoder only) and with a clean one
// (a backward pass through the U-Net too), beside classifier-free guidance's second
// predictor call: the per-step prices behind docs/guidance.md's sampling times. The
// text-image models (the examples' networks) are trained for one step into a temporary
// directory first; their weights do not change the cost.
#include <cstdlib>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>
#include <ATen/Context.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/randn.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "benchmarks/bench_support.h"
#include "guidance/guidance_term.h"
#include "pipeline/trained_description.h"
#include "assembly/train.h"

namespace diffuse {
namespace {

constexpr char kCosine[] = R"(
  forward { name: "gaussian_vp" options { [type.googleapis.com/diffuse.GaussianVpOptions] {
    schedule: COSINE num_steps: 1000 } } })";

// A text-image model of the examples' size, trained one step; returns its checkpoint.
std::string TextImageCheckpoint(bool noisy) {
  static const std::string dir = [] {
    char pattern[] = "/tmp/guidance_benchmark_XXXXXX";
    return std::string(mkdtemp(pattern));
  }();
  const std::string out = dir + (noisy ? "/noisy" : "/clean");
  auto p = BuildForBenchmark(absl::StrCat(R"(data { name: "fashion_mnist" })",
                                          noisy ? kCosine : "", R"(
    encoder { name: "semantic_encoder" options {
      [type.googleapis.com/diffuse.SemanticEncoderOptions] { latent_dim: 64 )",
                                          noisy ? "time_input: true" : "", R"( } } }
    text_encoder { name: "bag_of_words" }
    training { steps: 1 batch_size: 8 })"));
  if (!Train(*p, out, nullptr).ok()) std::abort();
  return CheckpointPath(out);
}

std::string GuidedText(const std::string& guidance, const std::string& unet = "") {
  return absl::StrCat(R"(data { name: "fashion_mnist" })", kCosine, R"(
    predictor { name: "unet" options { [type.googleapis.com/diffuse.UNetOptions] {
      parameterization: V )", unet, R"( } } }
    prior { name: "standard_normal" }
    reverse { name: "substitution" }
  )", guidance,
                      absl::StrContains(guidance, "\"clip\"")
                          ? R"(sampler { prompts: ["dark sandal", "light bag"] })"
                          : "");
}

std::string Clip(bool noisy) {
  return absl::StrCat(R"(guidance { name: "clip" options {
      [type.googleapis.com/diffuse.ClipGuidanceOptions] { checkpoint: ")",
                      TextImageCheckpoint(noisy), R"(" scale: 100 } } })");
}

// Predict, then every guidance term, as the sampler does at one step.
void GuidedPrediction(benchmark::State& state, const std::string& guidance,
                      const std::string& unet = "") {
  auto p = BuildForBenchmark(GuidedText(guidance, unet));
  at::NoGradGuard no_grad;
  at::manual_seed(0);
  GuidanceInput in;
  in.predictor = p->predictor.get();
  in.forward = p->forward.get();
  in.x_t = at::randn({64, 1, 28, 28});
  in.t = Time(500.0);
  in.condition.prompt = at::arange(64, at::kLong).remainder(2);
  if (p->predictor->conditions().num_classes > 0) {
    in.condition.label = at::arange(64, at::kLong).remainder(10);
  }
  auto step = [&] {
    X0Prediction x0 = p->predictor->Predict(in.x_t, in.t, in.condition);
    for (auto& term : p->guidance) x0 = term->Guide(in, x0);
    return x0.x0;
  };
  step();  // warm-up
  for (auto _ : state) benchmark::DoNotOptimize(step());
  state.SetItemsProcessed(state.iterations() * 64);
}

void BM_Unguided(benchmark::State& state) { GuidedPrediction(state, ""); }
BENCHMARK(BM_Unguided)->Unit(benchmark::kMillisecond);

void BM_ClipNoiseAware(benchmark::State& state) { GuidedPrediction(state, Clip(true)); }
BENCHMARK(BM_ClipNoiseAware)->Unit(benchmark::kMillisecond);

void BM_ClipClean(benchmark::State& state) { GuidedPrediction(state, Clip(false)); }
BENCHMARK(BM_ClipClean)->Unit(benchmark::kMillisecond);

// The class-conditional twin (fashion_mnist_v_cfg.pbtxt) at w = 1: two predictor calls.
void BM_ClassifierFree(benchmark::State& state) {
  GuidedPrediction(state, R"(guidance { name: "classifier_free" }
                             training { condition_dropout: 0.1 })",
                   "class_conditional: true");
}
BENCHMARK(BM_ClassifierFree)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diffuse
