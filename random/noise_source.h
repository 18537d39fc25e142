// Explicit randomness for sampling and training.
//
// Every random draw in the toolkit goes through a NoiseSource passed in by the caller;
// nothing reads a global generator. Three sources:
//   PhiloxNoise    - per-sample counter-based streams: sample i of a run draws from
//                    stream (seed, first_sample + i), so a sample does not change when the
//                    batch size (or chunking) changes (random/philox_kernels.h).
//   GeneratorNoise - one at::Generator for a whole batch (training; its state goes into
//                    checkpoints for exact resume).
//   SuppliedNoise  - tensors the caller provides, returned in order (tests).
//   StepNoise      - one supplied row per reverse step (`diffuse sample --noise`):
//                    reproducing another library's stochastic run.
#ifndef DIFFUSE_RANDOM_NOISE_SOURCE_H_
#define DIFFUSE_RANDOM_NOISE_SOURCE_H_

#include <cstdint>
#include <deque>
#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace diffuse {

class NoiseSource {
 public:
  virtual ~NoiseSource() = default;
  // Standard normal draws; shape[0] is the batch. float32 (supplied noise: as supplied;
  // the reverse process converts draws to the state's type).
  virtual at::Tensor Normal(at::IntArrayRef shape) = 0;
  // Uniform draws in [0, 1). float32.
  virtual at::Tensor Uniform(at::IntArrayRef shape) = 0;
  // The reverse process announces step `index` (0-based) before that step's first draw.
  virtual void BeginStep(int index) {}
};

class PhiloxNoise : public NoiseSource {
 public:
  explicit PhiloxNoise(uint64_t seed, int64_t first_sample = 0)
      : seed_(seed), first_sample_(first_sample) {}
  at::Tensor Normal(at::IntArrayRef shape) override;
  at::Tensor Uniform(at::IntArrayRef shape) override;

 private:
  uint64_t seed_;
  int64_t first_sample_;
  uint64_t blocks_used_ = 0;  // 128-bit Philox blocks each stream has consumed.
};

class GeneratorNoise : public NoiseSource {
 public:
  explicit GeneratorNoise(at::Generator generator) : generator_(std::move(generator)) {}
  at::Tensor Normal(at::IntArrayRef shape) override;
  at::Tensor Uniform(at::IntArrayRef shape) override;
  at::Generator& generator() { return generator_; }

 private:
  at::Generator generator_;
};

// Normal() returns the supplied tensors in order; Uniform() and running out throw
// c10::Error (callers that supply noise know how many draws a run makes).
class SuppliedNoise : public NoiseSource {
 public:
  explicit SuppliedNoise(std::deque<at::Tensor> normals) : normals_(std::move(normals)) {}
  at::Tensor Normal(at::IntArrayRef shape) override;
  at::Tensor Uniform(at::IntArrayRef shape) override;

 private:
  std::deque<at::Tensor> normals_;
};

// Row i of `rows` [S, B, ...] is the one normal draw of reverse step i (diffusers'
// `variance_noise`; k-diffusion's noise_sampler). A step that draws twice, a draw at a step
// without a row, a draw of another shape, and Uniform() throw c10::Error naming `source`.
class StepNoise : public NoiseSource {
 public:
  StepNoise(at::Tensor rows, std::string source)
      : rows_(std::move(rows)), source_(std::move(source)) {}
  at::Tensor Normal(at::IntArrayRef shape) override;
  at::Tensor Uniform(at::IntArrayRef shape) override;
  void BeginStep(int index) override;

 private:
  at::Tensor rows_;
  std::string source_;
  int step_ = -1;
  bool drawn_ = false;
};

}  // namespace diffuse

#endif  // DIFFUSE_RANDOM_NOISE_SOURCE_H_
