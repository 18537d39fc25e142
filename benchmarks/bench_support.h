// Pipelines for benchmarks, built from description text like everything else.
#ifndef DIFFUSE_BENCHMARKS_BENCH_SUPPORT_H_
#define DIFFUSE_BENCHMARKS_BENCH_SUPPORT_H_

#include <memory>
#include <string>

#include "pipeline/builder.h"

namespace diffuse {

// Builds `text` or aborts with the error.
std::unique_ptr<Pipeline> BuildForBenchmark(const std::string& text);

// The eight-Gaussians / gaussian_vp / mlp (128 x 3) description with `reverse` filled in.
std::string BenchmarkPipelineText(const std::string& reverse = R"(name: "substitution")");

}  // namespace diffuse

#endif  // DIFFUSE_BENCHMARKS_BENCH_SUPPORT_H_
