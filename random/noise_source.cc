#include "random/noise_source.h"

#include <algorithm>
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

constexpr int kLanes = 8;

// Philox4x32-10 on kLanes independent counters at once (c[word][lane], updated in place):
// the lanes' multiply chains interleave and vectorize, several times the throughput of one
// block at a time. Same results as Philox4x32.
void Philox4x32Lanes(uint32_t c[4][kLanes], const uint32_t key[2]) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t p0 = static_cast<uint64_t>(kM0) * c[0][l];
      const uint64_t p1 = static_cast<uint64_t>(kM1) * c[2][l];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c[1][l] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c[3][l] ^ k1;
      c[0][l] = n0;
      c[1][l] = static_cast<uint32_t>(p1);
      c[2][l] = n2;
      c[3][l] = static_cast<uint32_t>(p0);
    }
    k0 += kW0;
    k1 += kW1;
  }
}

// Hands store(i, w, word) the `words` words of each sample i in [0, batch): sample i reads
// stream first_sample + i from block `first_block` on (word 4b + j is word j of block
// first_block + b).
template <typename Store>
void PerSampleWords(uint64_t seed, int64_t first_sample, uint64_t first_block, int64_t batch,
                    int64_t words, Store store) {
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  const int64_t blocks = (words + 3) / 4;
  // Samples [begin, end) in lane-sized groups of (sample, block) pairs, no divisions.
  at::parallel_for(0, batch, 256, [&](int64_t begin, int64_t end) {
    uint32_t c[4][kLanes];
    int64_t lane_sample[kLanes], lane_block[kLanes];
    int lanes = 0;
    auto flush = [&]() {
      Philox4x32Lanes(c, key);
      for (int l = 0; l < lanes; ++l) {
        const int64_t w0 = 4 * lane_block[l];
        for (int j = 0; j < 4 && w0 + j < words; ++j) store(lane_sample[l], w0 + j, c[j][l]);
      }
      lanes = 0;
    };
    for (int64_t i = begin; i < end; ++i) {
      const uint64_t stream = first_sample + i;
      for (int64_t b = 0; b < blocks; ++b) {
        const uint64_t block = first_block + b;
        c[0][lanes] = static_cast<uint32_t>(block);
        c[1][lanes] = static_cast<uint32_t>(block >> 32);
        c[2][lanes] = static_cast<uint32_t>(stream);
        c[3][lanes] = static_cast<uint32_t>(stream >> 32);
        lane_sample[lanes] = i;
        lane_block[lanes] = b;
        if (++lanes == kLanes) flush();
      }
    }
    if (lanes > 0) flush();
  });
}

int64_t PerSample(at::IntArrayRef shape) {
  TORCH_CHECK(!shape.empty(), "noise shape needs a batch dimension");
  int64_t n = 1;
  for (size_t d = 1; d < shape.size(); ++d) n *= shape[d];
  return n;
}

}  // namespace

// Box-Muller on word pairs (2p, 2p+1): radius from the first, angle from the second. The
// words go to two contiguous buffers so the transcendental part runs as in-place SIMD
// tensor kernels, identically for every batch size.
at::Tensor PhiloxNoise::Normal(at::IntArrayRef shape) {
  const int64_t n = PerSample(shape), pairs = (n + 1) / 2, batch = shape[0];
  at::Tensor radius = torch::empty({batch, pairs}, torch::kFloat32);
  at::Tensor angle = torch::empty({batch, pairs}, torch::kFloat32);
  float* r = radius.data_ptr<float>();
  float* a = angle.data_ptr<float>();
  PerSampleWords(seed_, first_sample_, blocks_used_, batch, 2 * pairs,
                 [&](int64_t i, int64_t w, uint32_t word) {
                   (w % 2 == 0 ? r : a)[i * pairs + w / 2] = ToOpenUnit(word);
                 });
  blocks_used_ += (2 * pairs + 3) / 4;
  radius.log_().mul_(-2.0f).sqrt_();
  angle.mul_(6.2831853f);
  at::Tensor z = torch::stack({angle.cos().mul_(radius), angle.sin_().mul_(radius)}, 2)
                     .view({batch, 2 * pairs});
  if (2 * pairs != n) z = z.narrow(1, 0, n);
  return z.reshape(shape);
}

at::Tensor PhiloxNoise::Uniform(at::IntArrayRef shape) {
  const int64_t n = PerSample(shape);
  at::Tensor u = torch::empty({shape[0], n}, torch::kFloat32);
  float* data = u.data_ptr<float>();
  // The top 24 bits: exactly representable, so never rounds up to 1.
  PerSampleWords(seed_, first_sample_, blocks_used_, shape[0], n,
                 [&](int64_t i, int64_t w, uint32_t word) {
                   data[i * n + w] = static_cast<float>(word >> 8) * (1.0f / 16777216.0f);
                 });
  blocks_used_ += (n + 3) / 4;
  return u.reshape(shape);
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
