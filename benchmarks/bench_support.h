// Pipelines for benchmarks, built from description text like everything else.
#ifndef DIFFUSE_BENCHMARKS_BENCH_SUPPORT_H_
#define DIFFUSE_BENCHMARKS_BENCH_SUPPORT_H_

#include <memory>
#include <string>

#include "assembly/builder.h"

namespace diffuse {

// Builds `text` or aborts with the error.
std::unique_ptr<Pipeline> BuildForBenchmark(const std::string& text);

// The eight-Gaussians / mlp (128 x 3) description with `reverse` and `forward` filled in.
std::string BenchmarkPipelineText(const std::string& reverse = R"(name: "substitution")",
                                  const std::string& forward = R"(name: "gaussian_vp")");

}  // namespace diffuse

#endif  // DIFFUSE_BENCHMARKS_BENCH_SUPPORT_H_
