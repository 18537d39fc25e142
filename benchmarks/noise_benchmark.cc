// Per-sample Philox normals (PhiloxNoise) against one global generator (at::randn, what
// Python code calls), on 100,000 2-D points (arg 100000) and 64 x 1 x 28 x 28 images (0).
#include <benchmark/benchmark.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/randn.h>

#include "random/noise_source.h"

namespace diffuse {
namespace {

std::vector<int64_t> Shape(int64_t arg) {
  return arg == 0 ? std::vector<int64_t>{64, 1, 28, 28} : std::vector<int64_t>{arg, 2};
}

void BM_PhiloxNormal(benchmark::State& state) {
  const std::vector<int64_t> shape = Shape(state.range(0));
  PhiloxNoise noise(0);
  for (auto _ : state) benchmark::DoNotOptimize(noise.Normal(shape));
  state.SetItemsProcessed(state.iterations() * at::empty(shape).numel());
}

void BM_PhiloxUniform(benchmark::State& state) {
  const std::vector<int64_t> shape = Shape(state.range(0));
  PhiloxNoise noise(0);
  for (auto _ : state) benchmark::DoNotOptimize(noise.Uniform(shape));
  state.SetItemsProcessed(state.iterations() * at::empty(shape).numel());
}

void BM_TorchRandn(benchmark::State& state) {
  const std::vector<int64_t> shape = Shape(state.range(0));
  at::Generator generator = at::detail::createCPUGenerator(0);
  for (auto _ : state) benchmark::DoNotOptimize(at::randn(shape, generator));
  state.SetItemsProcessed(state.iterations() * at::empty(shape).numel());
}

BENCHMARK(BM_PhiloxNormal)->Arg(100000)->Arg(0);
BENCHMARK(BM_PhiloxUniform)->Arg(100000)->Arg(0);
BENCHMARK(BM_TorchRandn)->Arg(100000)->Arg(0);

}  // namespace
}  // namespace diffuse
