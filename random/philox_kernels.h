// The per-sample Philox streams of PhiloxNoise, filled into float buffers in one pass.
//
// Stream layout (pinned by noise_source_test): sample i reads Philox4x32-10 blocks with
// counter (block, stream = first_sample + i) under key = seed, from `first_block` on; word
// 4b + j of a sample is word j of its block first_block + b. A sample's draws therefore
// depend only on (seed, first_sample + i, first_block), never on the batch around it.
//
// The kernels work on 16 blocks at a time, structure-of-arrays: Philox rounds in AVX2
// intrinsics, Box-Muller with branch-free polynomial log / sincos that the compiler
// vectorizes. Each is built twice (AVX2 + FMA, and baseline x86-64 with a scalar Philox) and
// the CPU's features pick one at run time; both give the same words.
#ifndef DIFFUSE_RANDOM_PHILOX_KERNELS_H_
#define DIFFUSE_RANDOM_PHILOX_KERNELS_H_

#include <cstdint>

namespace diffuse {

// Philox4x32-10 (Salmon et al., SC'11): the block for `counter` under `key`.
void Philox4x32(const uint32_t counter[4], const uint32_t key[2], uint32_t out[4]);

// out[i * n + k], i < batch, k < n: standard normals by Box-Muller on word pairs
// (2p, 2p + 1): z_2p = r cos(a), z_2p+1 = r sin(a), r = sqrt(-2 log u_2p), a = 2 pi u_2p+1,
// with u = (floor(word / 2) + 1/2) / 2^31 in (0, 1). Uses ceil(n / 4) blocks per sample.
void PhiloxNormals(uint64_t seed, int64_t first_sample, uint64_t first_block, int64_t batch,
                   int64_t n, float* out);

// out[i * n + k]: uniforms in [0, 1), (word >> 8) / 2^24 (exact in float, never 1).
void PhiloxUniforms(uint64_t seed, int64_t first_sample, uint64_t first_block,
                    int64_t batch, int64_t n, float* out);

}  // namespace diffuse

#endif  // DIFFUSE_RANDOM_PHILOX_KERNELS_H_
