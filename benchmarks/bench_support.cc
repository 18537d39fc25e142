#include "benchmarks/bench_support.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace diffuse {

std::unique_ptr<Pipeline> BuildForBenchmark(const std::string& text) {
  absl::StatusOr<PipelineConfig> config = ParsePipelineText(text, "<benchmark>");
  absl::StatusOr<std::unique_ptr<Pipeline>> p =
      config.ok() ? BuildPipeline(*config) : config.status();
  if (!p.ok()) {
    std::fprintf(stderr, "%s\n", p.status().ToString().c_str());
    std::abort();
  }
  return std::move(p).value();
}

std::string BenchmarkPipelineText(const std::string& reverse, const std::string& forward) {
  return absl::StrCat(R"(
    data { name: "eight_gaussians" }
    forward { )", forward, R"( }
    predictor { name: "mlp" options { [type.googleapis.com/diffuse.MlpOptions] {
      hidden: 128 blocks: 3 parameterization: V } } }
    prior { name: "forward_terminal" }
    reverse { )", reverse, R"( }
    sampler { num_steps: 50 })");
}

}  // namespace diffuse
