#include "random/noise_source.h"

#include <cmath>

#include <ATen/Parallel.h>
#include <torch/types.h>

namespace diffuse {

void Philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c0;
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c0 = n0;
    c1 = static_cast<uint32_t>(p1);
    c2 = n2;
    c3 = static_cast<uint32_t>(p0);
    k0 += kW0;
    k1 += kW1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

namespace {

// Uniform in (0, 1): never 0, so log() in Box-Muller is finite.
inline float ToOpenUnit(uint32_t x) {
  return static_cast<float>((x + 0.5) * (1.0 / 4294967296.0));
}

// Fills `out[0..n)` of stream `stream` starting at block `first_block`; returns blocks used.
template <bool kNormal>
uint64_t FillStream(uint64_t seed, uint64_t stream, uint64_t first_block, float* out,
                    int64_t n) {
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const uint64_t blocks = (n + 3) / 4;
  uint32_t r[4];
  for (uint64_t b = 0; b < blocks; ++b) {
    const uint64_t block = first_block + b;
    const uint32_t counter[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                                 static_cast<uint32_t>(stream),
                                 static_cast<uint32_t>(stream >> 32)};
    Philox4x32(counter, key, r);
    float v[4];
    const int64_t left = n - 4 * static_cast<int64_t>(b);
    if (kNormal) {
      // Box-Muller (float precision suffices for float32 output) on the pairs needed.
      for (int p = 0; p < 2 && 2 * p < left; ++p) {
        const float radius = std::sqrt(-2.0f * std::log(ToOpenUnit(r[2 * p])));
        const float angle = 6.2831853f * ToOpenUnit(r[2 * p + 1]);
        v[2 * p] = radius * std::cos(angle);
        v[2 * p + 1] = radius * std::sin(angle);
      }
    } else {
      // The top 24 bits: exactly representable, so never rounds up to 1.
      for (int i = 0; i < 4; ++i) v[i] = static_cast<float>(r[i] >> 8) * (1.0f / 16777216.0f);
    }
    for (int i = 0; i < 4 && 4 * static_cast<int64_t>(b) + i < n; ++i) out[4 * b + i] = v[i];
  }
  return blocks;
}

template <bool kNormal>
at::Tensor DrawPerSample(uint64_t seed, int64_t first_sample, uint64_t* blocks_used,
                         at::IntArrayRef shape) {
  TORCH_CHECK(!shape.empty(), "noise shape needs a batch dimension");
  at::Tensor out = torch::empty(shape, torch::kFloat32);
  const int64_t batch = shape[0];
  const int64_t per_sample = batch == 0 ? 0 : out.numel() / batch;
  float* data = out.data_ptr<float>();
  at::parallel_for(0, batch, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      FillStream<kNormal>(seed, first_sample + i, *blocks_used, data + i * per_sample,
                                 per_sample);
    }
  });
  *blocks_used += (per_sample + 3) / 4;
  return out;
}

}  // namespace

at::Tensor PhiloxNoise::Normal(at::IntArrayRef shape) {
  return DrawPerSample<true>(seed_, first_sample_, &blocks_used_, shape);
}

at::Tensor PhiloxNoise::Uniform(at::IntArrayRef shape) {
  return DrawPerSample<false>(seed_, first_sample_, &blocks_used_, shape);
}

at::Tensor GeneratorNoise::Normal(at::IntArrayRef shape) {
  return torch::randn(shape, generator_, torch::kFloat32);
}

at::Tensor GeneratorNoise::Uniform(at::IntArrayRef shape) {
  return torch::rand(shape, generator_, torch::kFloat32);
}

at::Tensor SuppliedNoise::Normal(at::IntArrayRef shape) {
  TORCH_CHECK(!normals_.empty(), "supplied noise ran out");
  at::Tensor next = std::move(normals_.front());
  normals_.pop_front();
  TORCH_CHECK(next.sizes() == shape, "supplied noise has shape ", next.sizes(), ", want ",
              shape);
  return next.to(torch::kFloat32);
}

at::Tensor SuppliedNoise::Uniform(at::IntArrayRef) {
  TORCH_CHECK(false, "SuppliedNoise provides normal draws only");
}

}  // namespace diffuse
