// One reverse step x_t -> x_{t_prev} given x0_hat (the predictor excluded), for each
// reverse conditional, on 2-D points.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "benchmarks/bench_support.h"
#include "random/noise_source.h"

namespace diffuse {
namespace {

template <const char* kReverse>
void BM_ReverseStep(benchmark::State& state) {
  auto p = BuildForBenchmark(BenchmarkPipelineText(kReverse));
  const int64_t n = state.range(0);
  const at::Tensor x_t = torch::randn({n, 2});
  const X0Prediction x0_hat{torch::randn({n, 2}), at::Tensor()};
  PhiloxNoise noise(0);
  const ReverseStep step{p->forward.get(), 500.0, 480.0, 0, 50, &noise, nullptr};
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(p->reverse->Step(step, x_t, x0_hat));
  state.SetItemsProcessed(state.iterations() * n);
}

constexpr char kSubstitution[] = R"(name: "substitution")";
constexpr char kDdpm[] = R"(name: "partial_substitution")";
constexpr char kResample[] = R"(name: "resample")";
BENCHMARK_TEMPLATE(BM_ReverseStep, kSubstitution)->Arg(1)->Arg(1000)->Arg(100000);
BENCHMARK_TEMPLATE(BM_ReverseStep, kDdpm)->Arg(1)->Arg(1000)->Arg(100000);
BENCHMARK_TEMPLATE(BM_ReverseStep, kResample)->Arg(1)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace diffuse
