// The U-Net predictor at Fashion-MNIST scale (batch 64 x 1 x 28 x 28, default UNetOptions:
// 32 base channels, levels [1, 2, 2], attention at 7 x 7): one forward (x0 prediction), one
// training step (forward + backward + Adam), and a 50-step DDIM sampling run.
#include <memory>

#include <benchmark/benchmark.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "benchmarks/bench_support.h"
#include "models/trainable_model.h"
#include "random/noise_source.h"
#include "reverse/sampler.h"

namespace diffuse {
namespace {

constexpr char kText[] = R"(
  data { name: "fashion_mnist" }
  forward { name: "gaussian_vp" }
  predictor { name: "unet" }
  prior { name: "standard_normal" }
  reverse { name: "substitution" }
  sampler { num_steps: 50 }
)";

void BM_UNetForward(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  at::NoGradGuard no_grad;
  const at::Tensor x = torch::randn({64, 1, 28, 28});
  // Warm-up, as the Python peer does: oneDNN builds its kernels and the heap grows to the
  // step's high-water mark on the first calls.
  p->predictor->Predict(x, 500.0, {});
  for (auto _ : state) benchmark::DoNotOptimize(p->predictor->Predict(x, 500.0, {}).x0);
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_UNetForward)->Unit(benchmark::kMillisecond);

// The inference choices measured one by one: arg 0 selects the autograd guard (0: NoGradGuard,
// 1: c10::InferenceMode), arg 1 the layout of weights and activations (0: NCHW,
// 1: channels-last).
void BM_UNetForwardVariants(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  const bool inference_mode = state.range(0) == 1, channels_last = state.range(1) == 1;
  std::unique_ptr<at::NoGradGuard> no_grad;
  std::unique_ptr<c10::InferenceMode> inference;
  if (inference_mode) {
    inference = std::make_unique<c10::InferenceMode>();
  } else {
    no_grad = std::make_unique<at::NoGradGuard>();
  }
  at::Tensor x = torch::randn({64, 1, 28, 28});
  if (channels_last) {
    at::NoGradGuard guard;
    for (at::Tensor w : p->predictor->trainable()->module().parameters()) {
      if (w.dim() == 4) w.set_data(w.contiguous(at::MemoryFormat::ChannelsLast));
    }
    x = x.contiguous(at::MemoryFormat::ChannelsLast);
  }
  p->predictor->Predict(x, 500.0, {});
  for (auto _ : state) benchmark::DoNotOptimize(p->predictor->Predict(x, 500.0, {}).x0);
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_UNetForwardVariants)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"inference_mode", "channels_last"})
    ->Unit(benchmark::kMillisecond);

void BM_UNetTrainingStep(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  TrainableModel& model = *p->predictor->trainable();
  torch::optim::Adam adam(model.module().parameters(), torch::optim::AdamOptions(1e-4));
  at::Generator gen = at::detail::createCPUGenerator(0);
  const DataBatch data = p->data->Sample(64, gen);
  const at::Tensor eps = torch::randn_like(data.x);
  const Time t(torch::randint(1, 1001, {64}, gen, torch::kFloat64));
  const TrainingExample e{data.x, eps, p->forward->Apply(data.x, t, eps), t, {}};
  auto step = [&] {
    adam.zero_grad();
    model.Loss(e).mean().backward();
    adam.step();
  };
  step();  // warm-up, as for the forward
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * 64);
  int64_t params = 0;
  for (const at::Tensor& w : model.module().parameters()) params += w.numel();
  state.counters["params"] = static_cast<double>(params);  // side_by_side/unet_train.py checks it
}
BENCHMARK(BM_UNetTrainingStep)->Unit(benchmark::kMillisecond);

void BM_UNetSample50Steps(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  PhiloxNoise noise(0);
  const at::Tensor x_T = torch::randn({64, 1, 28, 28});
  for (auto _ : state) {
    benchmark::DoNotOptimize(RunReverseProcess(p->sampling(), x_T, p->times, {}, noise));
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_UNetSample50Steps)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace diffuse
