// One reverse step x_t -> x_{t_prev} given x0_hat (the predictor excluded), for each
// reverse conditional and solver, on 2-D points and on 64 x 1 x 28 x 28 images (arg 0).
#include <benchmark/benchmark.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/randn.h>

#include "benchmarks/bench_support.h"
#include "random/noise_source.h"

namespace diffuse {
namespace {

// Shapes: batch of 2-D points (arg 1, 1000, 100000), or arg 0 for 64 x 1 x 28 x 28 images.
std::vector<int64_t> Shape(int64_t arg) {
  return arg == 0 ? std::vector<int64_t>{64, 1, 28, 28} : std::vector<int64_t>{arg, 2};
}

// The predictor is excluded: x0_hat is given, and solvers that evaluate it again (Heun, the
// corrector) get a function returning a fixed tensor.
template <const char* kReverse>
void BM_ReverseStep(benchmark::State& state) {
  auto p = BuildForBenchmark(BenchmarkPipelineText(kReverse));
  const std::vector<int64_t> shape = Shape(state.range(0));
  const at::Tensor x_t = at::randn(shape);
  const X0Prediction x0_hat{at::randn(shape), at::Tensor()};
  const PredictFn predict = [&](const at::Tensor&, double) { return x0_hat; };
  PhiloxNoise noise(0);
  at::NoGradGuard no_grad;
  p->reverse->Reset();
  int i = 0;
  for (auto _ : state) {
    // Alternate between two step pairs so multistep solvers stay in their second-order path.
    const double t = (i++ % 2) ? 480.0 : 500.0;
    const ReverseStep step{p->forward.get(), t, t - 20.0, 1, 50, &noise, &predict};
    benchmark::DoNotOptimize(p->reverse->Step(step, x_t, x0_hat));
  }
  state.SetItemsProcessed(state.iterations() * shape[0]);
}

constexpr char kSubstitution[] = R"(name: "substitution")";
constexpr char kDdpm[] = R"(name: "partial_substitution")";
constexpr char kResample[] = R"(name: "resample")";
constexpr char kEuler[] = R"(name: "euler")";
constexpr char kHeun[] = R"(name: "heun")";
constexpr char kDpmpp2m[] = R"(name: "dpmpp_2m")";
constexpr char kEulerMaruyama[] = R"(name: "euler_maruyama")";
constexpr char kPredictorCorrector[] = R"(name: "predictor_corrector")";
#define DIFFUSE_REVERSE_BENCHMARK(name) \
  BENCHMARK_TEMPLATE(BM_ReverseStep, name)->Arg(1)->Arg(1000)->Arg(100000)->Arg(0)
DIFFUSE_REVERSE_BENCHMARK(kSubstitution);
DIFFUSE_REVERSE_BENCHMARK(kDdpm);
DIFFUSE_REVERSE_BENCHMARK(kResample);
DIFFUSE_REVERSE_BENCHMARK(kEuler);
DIFFUSE_REVERSE_BENCHMARK(kHeun);
DIFFUSE_REVERSE_BENCHMARK(kDpmpp2m);
DIFFUSE_REVERSE_BENCHMARK(kEulerMaruyama);
DIFFUSE_REVERSE_BENCHMARK(kPredictorCorrector);

}  // namespace
}  // namespace diffuse
