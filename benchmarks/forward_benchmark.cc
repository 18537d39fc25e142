// One application of F_t (gaussian_vp) to 2-D points: a time shared by the batch (sampling)
// and one time per sample (training).
#include <benchmark/benchmark.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/randn.h>

#include "benchmarks/bench_support.h"

namespace diffuse {
namespace {

void BM_GaussianVpApplySharedTime(benchmark::State& state) {
  auto p = BuildForBenchmark(BenchmarkPipelineText());
  const at::Tensor x0 = at::randn({state.range(0), 2});
  const at::Tensor eps = at::randn({state.range(0), 2});
  for (auto _ : state) benchmark::DoNotOptimize(p->forward->Apply(x0, 500.0, eps));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GaussianVpApplySharedTime)->Arg(1)->Arg(1000)->Arg(100000);

// Every Gaussian family at a shared time on 64 x 1 x 28 x 28 images.
void BM_ApplyImages(benchmark::State& state, const std::string& forward, double t) {
  auto p = BuildForBenchmark(BenchmarkPipelineText(R"(name: "substitution")", forward));
  const at::Tensor x0 = at::randn({64, 1, 28, 28});
  const at::Tensor eps = at::randn({64, 1, 28, 28});
  for (auto _ : state) benchmark::DoNotOptimize(p->forward->Apply(x0, t, eps));
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK_CAPTURE(BM_ApplyImages, gaussian_vp, R"(name: "gaussian_vp")", 500.0);
BENCHMARK_CAPTURE(BM_ApplyImages, gaussian_ve, R"(name: "gaussian_ve")", 0.5);
BENCHMARK_CAPTURE(BM_ApplyImages, flow, R"(name: "flow")", 0.5);

void BM_GaussianVpApplyPerSampleTime(benchmark::State& state) {
  auto p = BuildForBenchmark(BenchmarkPipelineText());
  const at::Tensor x0 = at::randn({state.range(0), 2});
  const at::Tensor eps = at::randn({state.range(0), 2});
  const Time t(at::randint(1, 1001, {state.range(0)}, at::kDouble));
  for (auto _ : state) benchmark::DoNotOptimize(p->forward->Apply(x0, t, eps));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GaussianVpApplyPerSampleTime)->Arg(1)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace diffuse
