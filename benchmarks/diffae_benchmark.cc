// Diffusion Autoencoders at Fashion-MNIST scale, per batch of 64 (the description of
// pipeline/examples/fashion_mnist_diffae.pbtxt: default U-Net with latent_dim 64, semantic
// encoder of width 64, DDIM with 100 trailing steps): the encoder's forward, encoding
// (z_sem and x_T by 100-step DDIM inversion), decoding (100 DDIM steps conditioned on z_sem),
// and one joint training step beside the plain U-Net's (unet_benchmark), the cost ratio
// behind docs/diffae.md's equal-time comparison.
#include <memory>

#include <benchmark/benchmark.h>
#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "assembly/encode.h"
#include "assembly/generate.h"
#include "benchmarks/bench_support.h"
#include "models/encoder.h"
#include "models/trainable_model.h"

namespace diffuse {
namespace {

constexpr char kText[] = R"(
  data { name: "fashion_mnist" }
  forward {
    name: "gaussian_vp"
    options { [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: COSINE } }
  }
  predictor {
    name: "unet"
    options { [type.googleapis.com/diffuse.UNetOptions] { parameterization: V latent_dim: 64 } }
  }
  encoder {
    name: "semantic_encoder"
    options { [type.googleapis.com/diffuse.SemanticEncoderOptions] { latent_dim: 64 } }
  }
  prior { name: "standard_normal" }
  reverse { name: "substitution" }
  sampler { num_steps: 100 grid: TRAILING batch_size: 64 }
)";

at::Tensor Images(Pipeline& p) {
  at::Generator gen = at::detail::createCPUGenerator(0);
  return p.data->Sample(64, gen).x;
}

void BM_SemanticEncoderForward(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  at::NoGradGuard no_grad;
  const at::Tensor x = Images(*p);
  p->encoder->Encode(x, Time(0.0));  // warm-up (oneDNN kernels, heap)
  for (auto _ : state) benchmark::DoNotOptimize(p->encoder->Encode(x, Time(0.0)).mean);
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_SemanticEncoderForward)->Unit(benchmark::kMillisecond);

// z_sem and x_T of 64 images: the encoder, then 100 deterministic steps from x0 to x_T.
void BM_DiffAEEncode(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  const at::Tensor x = Images(*p);
  for (auto _ : state) {
    auto encoded = EncodeImages(*p, x, /*with_x_T=*/true);
    if (!encoded.ok()) state.SkipWithError(std::string(encoded.status().message()).c_str());
    benchmark::DoNotOptimize(encoded->x_T);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_DiffAEEncode)->Unit(benchmark::kMillisecond)->Iterations(1);

// 64 images from (z_sem, x_T): 100 DDIM steps conditioned on z_sem.
void BM_DiffAEDecode(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  GenerateRequest request;
  request.num = 64;
  request.latent = torch::randn({64, 64});
  request.x_start = torch::randn({64, 1, 28, 28});
  for (auto _ : state) {
    auto generated = Generate(*p, request);
    if (!generated.ok()) state.SkipWithError(std::string(generated.status().message()).c_str());
    benchmark::DoNotOptimize(generated->samples);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_DiffAEDecode)->Unit(benchmark::kMillisecond)->Iterations(1);

// One joint step: z = E(x0), the decoder's loss given z, backward through both, Adam.
void BM_DiffAETrainingStep(benchmark::State& state) {
  auto p = BuildForBenchmark(kText);
  TrainableModel& model = *p->predictor->trainable();
  torch::optim::Adam adam(p->trained_module()->parameters(), torch::optim::AdamOptions(1e-4));
  at::Generator gen = at::detail::createCPUGenerator(0);
  const at::Tensor x0 = p->data->Sample(64, gen).x;
  const at::Tensor eps = torch::randn_like(x0);
  const Time t(torch::randint(1, 1001, {64}, gen, torch::kFloat64));
  const at::Tensor x_t = p->forward->Apply(x0, t, eps);
  auto step = [&] {
    adam.zero_grad();
    TrainingExample e{x0, eps, x_t, t, {}};
    e.condition.latent = p->encoder->Encode(x0, t).mean;
    model.Loss(e).mean().backward();
    adam.step();
  };
  step();  // warm-up, as for the forward
  for (auto _ : state) step();
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_DiffAETrainingStep)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace diffuse
