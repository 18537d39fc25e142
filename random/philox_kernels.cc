#include "random/philox_kernels.h"

#include <cstring>

#include <immintrin.h>

#include <ATen/Parallel.h>

namespace diffuse {

namespace {

constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
constexpr int kLanes = 16;

#define DIFFUSE_INLINE inline __attribute__((always_inline))
// On the lambdas below: inlined into each build of a kernel, they are compiled for its ISA.
#define DIFFUSE_LAMBDA_INLINE __attribute__((always_inline))

// Ten Philox rounds on kLanes counters at once, c[word][lane] in place.
DIFFUSE_INLINE void PhiloxLanes(uint32_t c[4][kLanes], uint32_t k0, uint32_t k1) {
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

// The same rounds with AVX2 intrinsics, two vectors of 8 lanes held in registers: the
// 32 x 32 -> 64-bit products of even and odd lanes (vpmuludq) recombined by blends.
// Not inlined: its callers are compiled for both targets (and only the AVX2 one calls it).
__attribute__((target("avx2,fma"), noinline)) void PhiloxLanesAvx2(
    uint32_t c[4][kLanes], uint32_t k0, uint32_t k1) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(kM0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(kM1));
  __m256i x[2][4];
  for (int h = 0; h < 2; ++h) {
    for (int j = 0; j < 4; ++j) {
      x[h][j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&c[j][8 * h]));
    }
  }
  for (int round = 0; round < 10; ++round) {
    const __m256i key0 = _mm256_set1_epi32(static_cast<int>(k0));
    const __m256i key1 = _mm256_set1_epi32(static_cast<int>(k1));
    for (int h = 0; h < 2; ++h) {
      __m256i* v = x[h];
      // p = m * v per 32-bit lane: lo and hi words of the 64-bit products.
      const __m256i p0_even = _mm256_mul_epu32(v[0], m0);
      const __m256i p0_odd = _mm256_mul_epu32(_mm256_srli_epi64(v[0], 32), m0);
      const __m256i p1_even = _mm256_mul_epu32(v[2], m1);
      const __m256i p1_odd = _mm256_mul_epu32(_mm256_srli_epi64(v[2], 32), m1);
      const __m256i lo0 = _mm256_blend_epi32(p0_even, _mm256_slli_epi64(p0_odd, 32), 0xAA);
      const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(p0_even, 32), p0_odd, 0xAA);
      const __m256i lo1 = _mm256_blend_epi32(p1_even, _mm256_slli_epi64(p1_odd, 32), 0xAA);
      const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(p1_even, 32), p1_odd, 0xAA);
      v[0] = _mm256_xor_si256(_mm256_xor_si256(hi1, v[1]), key0);
      v[2] = _mm256_xor_si256(_mm256_xor_si256(hi0, v[3]), key1);
      v[1] = lo1;
      v[3] = lo0;
    }
    k0 += kW0;
    k1 += kW1;
  }
  for (int h = 0; h < 2; ++h) {
    for (int j = 0; j < 4; ++j) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(&c[j][8 * h]), x[h][j]);
    }
  }
}

template <bool kAvx2>
DIFFUSE_INLINE void PhiloxGroup(uint32_t c[4][kLanes], uint32_t k0, uint32_t k1) {
  if constexpr (kAvx2) {
    PhiloxLanesAvx2(c, k0, k1);
  } else {
    PhiloxLanes(c, k0, k1);
  }
}

DIFFUSE_INLINE float AsFloat(int32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
}

DIFFUSE_INLINE int32_t AsInt(float f) {
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// (floor(w / 2) + 1/2) / 2^31: in (0, 1), so log() below is finite; exact for small w,
// which is where the Gaussian tail comes from (|z| reaches 6.66).
DIFFUSE_INLINE float OpenUnit(uint32_t w) {
  return static_cast<float>(static_cast<int32_t>(w >> 1)) * 0x1p-31f + 0x1p-32f;
}

// Natural log for x in (0, 1], Cephes logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// log(1 + f) by its degree-9 minimax polynomial; about 1 ulp.
DIFFUSE_INLINE float Log(float x) {
  const int32_t bits = AsInt(x);
  int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = AsFloat((bits & 0x807fffff) | 0x3f000000);  // [1/2, 1)
  // Arithmetic instead of selects keeps the loop free of control flow (it vectorizes).
  const int32_t small = m < 0.707106781186547524f;
  e -= small;
  m = m - 1.0f + static_cast<float>(small) * m;
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  const float fe = static_cast<float>(e);
  y = y * m * z - 2.12194440e-4f * fe - 0.5f * z;
  return m + y + 0.693359375f * fe;
}

// cos(2 pi f), sin(2 pi f) for f in [0, 1]: f = k / 4 + r with |r| <= 1/8 (exact), Cephes
// sinf / cosf polynomials on x = 2 pi r in [-pi/4, pi/4], then the quadrant k.
DIFFUSE_INLINE void SinCosTurns(float f, float* cos_out, float* sin_out) {
  const int32_t k = static_cast<int32_t>(f * 4.0f + 0.5f);
  const float x = (f - static_cast<float>(k) * 0.25f) * 6.28318530717958648f;
  const float z = x * x;
  const float s =
      x + x * z * (-1.6666654611e-1f + z * (8.3321608736e-3f + z * -1.9515295891e-4f));
  const float c = 1.0f - 0.5f * z +
                  z * z *
                      (4.166664568298827e-2f +
                       z * (-1.388731625493765e-3f + z * 2.443315711809948e-5f));
  // Quadrant k: odd k swaps sin and cos; sin changes sign for k = 2, 3, cos for k = 1, 2.
  const float swap = static_cast<float>(k & 1);
  const float sin_q = s + swap * (c - s), cos_q = c + swap * (s - c);
  *sin_out = sin_q * static_cast<float>(1 - (k & 2));
  *cos_out = cos_q * static_cast<float>(1 - ((k + 1) & 2));
}

// z[j][l], j < 2 kPairs: the normals of lane l's block (pairs (w0, w1) and (w2, w3)).
template <int kPairs = 2>
DIFFUSE_INLINE void BoxMullerLanes(const uint32_t c[4][kLanes], float z[4][kLanes]) {
  for (int pair = 0; pair < kPairs; ++pair) {
    for (int l = 0; l < kLanes; ++l) {
      const float radius = __builtin_sqrtf(-2.0f * Log(OpenUnit(c[2 * pair][l])));
      float cos_a, sin_a;
      SinCosTurns(OpenUnit(c[2 * pair + 1][l]), &cos_a, &sin_a);
      z[2 * pair][l] = radius * cos_a;
      z[2 * pair + 1][l] = radius * sin_a;
    }
  }
}

// Runs `blocks_per_sample` blocks of samples [begin, end) through Philox in groups of
// kLanes (sample, block) pairs and hands each group to finish(c, lane_sample, lane_block,
// lanes). One template instance per output kind, each built for AVX2 and for x86-64.
template <bool kAvx2, typename Finish>
DIFFUSE_INLINE void ForEachLaneGroup(uint64_t seed, int64_t first_sample,
                                     uint64_t first_block, int64_t begin, int64_t end,
                                     int64_t blocks_per_sample, Finish finish) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  uint32_t c[4][kLanes];
  int64_t lane_sample[kLanes], lane_block[kLanes];
  int lanes = 0;
  for (int64_t i = begin; i < end; ++i) {
    const uint64_t stream = first_sample + i;
    for (int64_t b = 0; b < blocks_per_sample; ++b) {
      const uint64_t block = first_block + b;
      c[0][lanes] = static_cast<uint32_t>(block);
      c[1][lanes] = static_cast<uint32_t>(block >> 32);
      c[2][lanes] = static_cast<uint32_t>(stream);
      c[3][lanes] = static_cast<uint32_t>(stream >> 32);
      lane_sample[lanes] = i;
      lane_block[lanes] = b;
      if (++lanes == kLanes) {
        PhiloxGroup<kAvx2>(c, k0, k1);
        finish(c, lane_sample, lane_block, lanes);
        lanes = 0;
      }
    }
  }
  if (lanes > 0) {
    PhiloxGroup<kAvx2>(c, k0, k1);
    finish(c, lane_sample, lane_block, lanes);
  }
}

// Word j of lane l goes to out[sample * n + 4 * block + j] where that is inside the sample.
DIFFUSE_INLINE void Scatter(const float z[4][kLanes], const int64_t* lane_sample,
                            const int64_t* lane_block, int lanes, int64_t n, float* out) {
  for (int l = 0; l < lanes; ++l) {
    const int64_t w0 = 4 * lane_block[l];
    float* dst = out + lane_sample[l] * n + w0;
    const int64_t count = n - w0 < 4 ? n - w0 : 4;
    for (int64_t j = 0; j < count; ++j) dst[j] = z[j][l];
  }
}

// Samples of at most 4 values read one block each: the lanes are 16 consecutive samples
// (no per-lane bookkeeping), and samples of 1 or 2 values transform only the first pair.
template <bool kAvx2, int kPairs>
DIFFUSE_INLINE void NormalsOneBlockPerSample(uint64_t seed, int64_t first_sample,
                                             uint64_t first_block, int64_t begin, int64_t end,
                                             int64_t n, float* out) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int64_t i0 = begin; i0 < end; i0 += kLanes) {
    uint32_t c[4][kLanes];
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t stream = first_sample + i0 + l;
      c[0][l] = static_cast<uint32_t>(first_block);
      c[1][l] = static_cast<uint32_t>(first_block >> 32);
      c[2][l] = static_cast<uint32_t>(stream);
      c[3][l] = static_cast<uint32_t>(stream >> 32);
    }
    PhiloxGroup<kAvx2>(c, k0, k1);
    float z[4][kLanes];
    BoxMullerLanes<kPairs>(c, z);
    const int64_t lanes = end - i0 < kLanes ? end - i0 : kLanes;
    float* dst = out + i0 * n;
    for (int64_t l = 0; l < lanes; ++l) {
      for (int64_t j = 0; j < n; ++j) dst[l * n + j] = z[j][l];
    }
  }
}

// Samples of at least 16 blocks: the lanes are 16 consecutive blocks of one sample, so a
// group's 64 normals are contiguous in the output (one transpose, one copy).
template <bool kAvx2>
DIFFUSE_INLINE void NormalsBlocksOfOneSample(uint64_t seed, int64_t first_sample,
                                             uint64_t first_block, int64_t begin,
                                             int64_t end, int64_t n, float* out) {
  const uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  const int64_t blocks = (n + 3) / 4;
  for (int64_t i = begin; i < end; ++i) {
    const uint64_t stream = first_sample + i;
    for (int64_t b0 = 0; b0 < blocks; b0 += kLanes) {
      uint32_t c[4][kLanes];
      for (int l = 0; l < kLanes; ++l) {
        const uint64_t block = first_block + b0 + l;
        c[0][l] = static_cast<uint32_t>(block);
        c[1][l] = static_cast<uint32_t>(block >> 32);
        c[2][l] = static_cast<uint32_t>(stream);
        c[3][l] = static_cast<uint32_t>(stream >> 32);
      }
      PhiloxGroup<kAvx2>(c, k0, k1);
      float z[4][kLanes], flat[4 * kLanes];
      BoxMullerLanes(c, z);
      for (int l = 0; l < kLanes; ++l) {
        for (int j = 0; j < 4; ++j) flat[4 * l + j] = z[j][l];
      }
      const int64_t count = n - 4 * b0 < 4 * kLanes ? n - 4 * b0 : 4 * kLanes;
      std::memcpy(out + i * n + 4 * b0, flat, count * sizeof(float));
    }
  }
}

template <bool kAvx2>
DIFFUSE_INLINE void NormalRange(uint64_t seed, int64_t first_sample, uint64_t first_block,
                                int64_t begin, int64_t end, int64_t n, float* out) {
  if (n <= 2) {
    return NormalsOneBlockPerSample<kAvx2, 1>(seed, first_sample, first_block, begin, end, n, out);
  }
  if (n <= 4) {
    return NormalsOneBlockPerSample<kAvx2, 2>(seed, first_sample, first_block, begin, end, n, out);
  }
  if (n >= 4 * kLanes) {
    return NormalsBlocksOfOneSample<kAvx2>(seed, first_sample, first_block, begin, end, n, out);
  }
  ForEachLaneGroup<kAvx2>(seed, first_sample, first_block, begin, end, (n + 3) / 4,
                   [&](const uint32_t c[4][kLanes], const int64_t* lane_sample,
                       const int64_t* lane_block, int lanes) DIFFUSE_LAMBDA_INLINE {
                     float z[4][kLanes];
                     BoxMullerLanes(c, z);
                     Scatter(z, lane_sample, lane_block, lanes, n, out);
                   });
}

template <bool kAvx2>
DIFFUSE_INLINE void UniformRange(uint64_t seed, int64_t first_sample, uint64_t first_block,
                                 int64_t begin, int64_t end, int64_t n, float* out) {
  ForEachLaneGroup<kAvx2>(seed, first_sample, first_block, begin, end, (n + 3) / 4,
                   [&](const uint32_t c[4][kLanes], const int64_t* lane_sample,
                       const int64_t* lane_block, int lanes) DIFFUSE_LAMBDA_INLINE {
                     float u[4][kLanes];
                     for (int j = 0; j < 4; ++j) {
                       for (int l = 0; l < kLanes; ++l) {
                         u[j][l] = static_cast<float>(c[j][l] >> 8) * 0x1p-24f;
                       }
                     }
                     Scatter(u, lane_sample, lane_block, lanes, n, out);
                   });
}

using RangeFn = void (*)(uint64_t, int64_t, uint64_t, int64_t, int64_t, int64_t, float*);

// Each kernel built twice: for AVX2 + FMA and for baseline x86-64; the CPU picks at run time.
__attribute__((target("avx2,fma"))) void NormalRangeAvx2(
    uint64_t seed, int64_t first_sample, uint64_t first_block, int64_t begin, int64_t end,
    int64_t n, float* out) {
  NormalRange<true>(seed, first_sample, first_block, begin, end, n, out);
}
void NormalRangeBaseline(uint64_t seed, int64_t first_sample, uint64_t first_block,
                         int64_t begin, int64_t end, int64_t n, float* out) {
  NormalRange<false>(seed, first_sample, first_block, begin, end, n, out);
}
__attribute__((target("avx2,fma"))) void UniformRangeAvx2(
    uint64_t seed, int64_t first_sample, uint64_t first_block, int64_t begin, int64_t end,
    int64_t n, float* out) {
  UniformRange<true>(seed, first_sample, first_block, begin, end, n, out);
}
void UniformRangeBaseline(uint64_t seed, int64_t first_sample, uint64_t first_block,
                          int64_t begin, int64_t end, int64_t n, float* out) {
  UniformRange<false>(seed, first_sample, first_block, begin, end, n, out);
}

bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
}

// Samples per parallel chunk: about 8,192 blocks of work.
int64_t GrainSamples(int64_t n) { return 1 + 8192 / ((n + 3) / 4 + 1); }

}  // namespace

void Philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c[4][kLanes] = {};
  for (int j = 0; j < 4; ++j) c[j][0] = counter[j];
  PhiloxLanes(c, key[0], key[1]);
  for (int j = 0; j < 4; ++j) out[j] = c[j][0];
}

void PhiloxNormals(uint64_t seed, int64_t first_sample, uint64_t first_block, int64_t batch,
                   int64_t n, float* out) {
  const RangeFn range = HasAvx2() ? NormalRangeAvx2 : NormalRangeBaseline;
  at::parallel_for(0, batch, GrainSamples(n), [&](int64_t begin, int64_t end) {
    range(seed, first_sample, first_block, begin, end, n, out);
  });
}

void PhiloxUniforms(uint64_t seed, int64_t first_sample, uint64_t first_block,
                    int64_t batch, int64_t n, float* out) {
  const RangeFn range = HasAvx2() ? UniformRangeAvx2 : UniformRangeBaseline;
  at::parallel_for(0, batch, GrainSamples(n), [&](int64_t begin, int64_t end) {
    range(seed, first_sample, first_block, begin, end, n, out);
  });
}

}  // namespace diffuse
