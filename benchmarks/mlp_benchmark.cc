// One x0 prediction of the MLP (128 x 3 blocks, eps-parameterized) on 2-D points, and one
// training step (forward + backward + Adam) at batch 512.
#include <benchmark/benchmark.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "benchmarks/bench_support.h"
#include "models/trainable_model.h"

namespace diffuse {
namespace {

void BM_MlpPredict(benchmark::State& state) {
  auto p = BuildForBenchmark(BenchmarkPipelineText());
  const at::Tensor x_t = torch::randn({state.range(0), 2});
  at::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(p->predictor->Predict(x_t, 500.0, {}).x0);
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MlpPredict)->Arg(1)->Arg(1000)->Arg(100000);

void BM_MlpTrainStep(benchmark::State& state) {
  auto p = BuildForBenchmark(BenchmarkPipelineText());
  TrainableModel& model = *p->predictor->trainable();
  torch::optim::Adam adam(model.module().parameters(), torch::optim::AdamOptions(1e-3));
  const int64_t n = state.range(0);
  TrainingExample e;
  e.x0 = torch::randn({n, 2});
  e.eps = torch::randn({n, 2});
  e.t = Time(torch::randint(1, 1001, {n}, torch::kFloat64));
  e.x_t = p->forward->Apply(e.x0, e.t, e.eps);
  for (auto _ : state) {
    adam.zero_grad();
    at::Tensor loss = model.Loss(e).mean();
    loss.backward();
    adam.step();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_MlpTrainStep)->Arg(512);

}  // namespace
}  // namespace diffuse
