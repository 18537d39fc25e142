#include "random/noise_source.h"

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/rand.h>
#include <ATen/ops/randn.h>

#include "random/philox_kernels.h"

namespace diffuse {

namespace {

int64_t PerSample(at::IntArrayRef shape) {
  TORCH_CHECK(!shape.empty(), "noise shape needs a batch dimension");
  int64_t n = 1;
  for (size_t d = 1; d < shape.size(); ++d) n *= shape[d];
  return n;
}

}  // namespace

at::Tensor PhiloxNoise::Normal(at::IntArrayRef shape) {
  const int64_t n = PerSample(shape);
  at::Tensor z = at::empty(shape, at::kFloat);
  PhiloxNormals(seed_, first_sample_, blocks_used_, shape[0], n, z.data_ptr<float>());
  blocks_used_ += (n + 3) / 4;
  return z;
}

at::Tensor PhiloxNoise::Uniform(at::IntArrayRef shape) {
  const int64_t n = PerSample(shape);
  at::Tensor u = at::empty(shape, at::kFloat);
  PhiloxUniforms(seed_, first_sample_, blocks_used_, shape[0], n, u.data_ptr<float>());
  blocks_used_ += (n + 3) / 4;
  return u;
}

at::Tensor GeneratorNoise::Normal(at::IntArrayRef shape) {
  return at::randn(shape, generator_, at::kFloat);
}

at::Tensor GeneratorNoise::Uniform(at::IntArrayRef shape) {
  return at::rand(shape, generator_, at::kFloat);
}

at::Tensor SuppliedNoise::Normal(at::IntArrayRef shape) {
  TORCH_CHECK(!normals_.empty(), "supplied noise ran out");
  at::Tensor next = std::move(normals_.front());
  normals_.pop_front();
  TORCH_CHECK(next.sizes() == shape, "supplied noise has shape ", next.sizes(), ", want ",
              shape);
  return next.clone();  // steps may update their draw in place
}

at::Tensor SuppliedNoise::Uniform(at::IntArrayRef) {
  TORCH_CHECK(false, "SuppliedNoise provides normal draws only");
}

void StepNoise::BeginStep(int index) {
  step_ = index;
  drawn_ = false;
}

at::Tensor StepNoise::Normal(at::IntArrayRef shape) {
  TORCH_CHECK(step_ >= 0, source_, ": noise drawn outside a reverse step");
  TORCH_CHECK(!drawn_, source_, ": step ", step_ + 1,
              " draws noise twice; the file supplies one draw per step");
  TORCH_CHECK(step_ < rows_.size(0), source_, ": step ", step_ + 1, " draws noise but the file has ",
              rows_.size(0), " rows");
  at::Tensor row = rows_[step_];
  TORCH_CHECK(row.sizes() == shape, source_, ": a row has shape ", row.sizes(), ", step ",
              step_ + 1, " draws ", shape);
  drawn_ = true;
  return row.clone();  // steps may update their draw in place; the caller's rows stay intact
}

at::Tensor StepNoise::Uniform(at::IntArrayRef) {
  TORCH_CHECK(false, source_, ": supplied noise is normal; step ", step_ + 1,
              " draws uniforms");
}

}  // namespace diffuse
