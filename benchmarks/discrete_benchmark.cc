// Non-Gaussian operators and their reverse steps: blur and masking on 64 x 1 x 28 x 28 images
// (Fashion-MNIST shapes), and the token operators (uniform_categorical, masking of tokens,
// deletion) on batches of 1, 1k and 100k sequences of 16 tokens over K = 32 classes.
#include <cstdlib>

#include <benchmark/benchmark.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/one_hot.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randint.h>

#include "absl/strings/str_cat.h"
#include "benchmarks/bench_support.h"
#include "google/protobuf/text_format.h"
#include "pipeline/registry.h"
#include "random/noise_source.h"

namespace diffuse {
namespace {

std::string ImageText(const std::string& forward, const std::string& reverse) {
  return absl::StrCat(R"(data { name: "fashion_mnist" } forward { )", forward,
                      R"( } predictor { name: "mlp" options {
        [type.googleapis.com/diffuse.MlpOptions] { parameterization: X0 } } }
      prior { name: "forward_terminal" } reverse { )", reverse, " }");
}

std::string TokenText(const std::string& forward, const std::string& reverse) {
  return absl::StrCat(R"(data { name: "token_mixture" options {
        [type.googleapis.com/diffuse.TokenMixtureOptions] { num_classes: 32 length: 16 } } }
      forward { )", forward, R"( } predictor { name: "token_mixture_oracle" }
      prior { name: "forward_terminal" } reverse { )", reverse, " }");
}

constexpr char kBlur[] = R"(name: "blur")";
constexpr char kMasking[] = R"(name: "masking")";
constexpr char kUniform[] = R"(name: "uniform_categorical" options {
    [type.googleapis.com/diffuse.UniformCategoricalOptions] { num_classes: 32 } })";
constexpr char kTokenMasking[] = R"(name: "masking" options {
    [type.googleapis.com/diffuse.MaskingOptions] { num_classes: 32 } })";
constexpr char kDeletion[] = R"(name: "deletion" options {
    [type.googleapis.com/diffuse.DeletionOptions] { num_classes: 32 } })";

void BM_ImageApply(benchmark::State& state, const char* forward) {
  auto p = BuildForBenchmark(ImageText(forward, R"(name: "resample")"));
  const at::Tensor x0 = at::rand({64, 1, 28, 28}) * 2 - 1;
  PhiloxNoise noise(0);
  const at::Tensor eps = p->forward->SampleNoise(x0.sizes(), noise);
  for (auto _ : state) benchmark::DoNotOptimize(p->forward->Apply(x0, 50.0, eps));
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK_CAPTURE(BM_ImageApply, blur, kBlur);
BENCHMARK_CAPTURE(BM_ImageApply, masking, kMasking);

// One reverse step t = 50 -> 48 given x0_hat.
void BM_ImageStep(benchmark::State& state, const char* forward, const char* reverse) {
  auto p = BuildForBenchmark(ImageText(forward, reverse));
  const at::Tensor x0 = at::rand({64, 1, 28, 28}) * 2 - 1;
  PhiloxNoise noise(0);
  const at::Tensor x_t = p->forward->Apply(x0, 50.0, p->forward->SampleNoise(x0.sizes(), noise));
  const ReverseStep step{p->forward.get(), 50.0, 48.0, 1, 50, &noise, nullptr};
  for (auto _ : state) benchmark::DoNotOptimize(p->reverse->Step(step, x_t, {x0, at::Tensor()}));
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK_CAPTURE(BM_ImageStep, blur_substitution, kBlur, R"(name: "substitution")");
BENCHMARK_CAPTURE(BM_ImageStep, masking_absorbing_posterior, kMasking,
                  R"(name: "absorbing_posterior")");

void BM_TokenApply(benchmark::State& state, const char* forward) {
  auto p = BuildForBenchmark(TokenText(forward, R"(name: "resample")"));
  at::Generator gen = at::detail::createCPUGenerator(0);
  const at::Tensor x0 = p->data->Sample(state.range(0), gen).x;
  PhiloxNoise noise(0);
  const at::Tensor eps = p->forward->SampleNoise(x0.sizes(), noise);
  for (auto _ : state) benchmark::DoNotOptimize(p->forward->Apply(x0, 50.0, eps));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_TokenApply, uniform_categorical, kUniform)->Arg(1)->Arg(1000)->Arg(100000);
BENCHMARK_CAPTURE(BM_TokenApply, masking, kTokenMasking)->Arg(1)->Arg(1000)->Arg(100000);

// Deletion has no predictor yet, so no pipeline: the operator and its reverse step alone.
std::unique_ptr<ForwardProcess> MakeDeletion() {
  ComponentSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(kDeletion, &spec)) std::abort();
  return Registry<ForwardProcess>::Global().Create(spec, "forward", BuildContext()).value();
}

void BM_Deletion(benchmark::State& state, bool reverse_step) {
  const std::unique_ptr<ForwardProcess> f = MakeDeletion();
  ComponentSpec spec;
  spec.set_name("deletion_posterior");
  const std::unique_ptr<ReverseConditional> reverse =
      Registry<ReverseConditional>::Global().Create(spec, "reverse", BuildContext()).value();
  const at::Tensor x0 = at::randint(0, 32, {state.range(0), 16}, at::kLong);
  PhiloxNoise noise(0);
  const at::Tensor eps = f->SampleNoise(x0.sizes(), noise);
  const at::Tensor x_t = f->Apply(x0, 50.0, eps);
  const ReverseStep step{f.get(), 50.0, 48.0, 1, 50, &noise, nullptr};
  for (auto _ : state) {
    benchmark::DoNotOptimize(reverse_step ? reverse->Step(step, x_t, {x0, at::Tensor()})
                                          : f->Apply(x0, 50.0, eps));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_Deletion, apply, false)->Arg(1)->Arg(1000)->Arg(100000);
BENCHMARK_CAPTURE(BM_Deletion, posterior_step, true)->Arg(1)->Arg(1000)->Arg(100000);

// One reverse step t = 50 -> 48 given x0 as one-hot logits (the predictor excluded).
void BM_TokenStep(benchmark::State& state, const char* forward, const char* reverse) {
  auto p = BuildForBenchmark(TokenText(forward, reverse));
  at::Generator gen = at::detail::createCPUGenerator(0);
  const at::Tensor x0 = p->data->Sample(state.range(0), gen).x;
  PhiloxNoise noise(0);
  const at::Tensor x_t = p->forward->Apply(x0, 50.0, p->forward->SampleNoise(x0.sizes(), noise));
  const X0Prediction x0_hat{x0, at::one_hot(x0, 32).to(at::kFloat).log()};
  const ReverseStep step{p->forward.get(), 50.0, 48.0, 1, 50, &noise, nullptr};
  for (auto _ : state) benchmark::DoNotOptimize(p->reverse->Step(step, x_t, x0_hat));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK_CAPTURE(BM_TokenStep, uniform_categorical_posterior, kUniform,
                  R"(name: "categorical_posterior")")
    ->Arg(1)->Arg(1000)->Arg(100000);
BENCHMARK_CAPTURE(BM_TokenStep, masking_categorical_posterior, kTokenMasking,
                  R"(name: "categorical_posterior")")
    ->Arg(1)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace diffuse
