#include "pipeline/generate.h"

#include <chrono>
#include <vector>

#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace diffuse {

absl::StatusOr<Generated> Generate(Pipeline& p, const GenerateRequest& request) {
  const std::vector<int64_t> sample_shape = p.data->sample_shape();
  std::vector<int64_t> full_shape{request.num};
  full_shape.insert(full_shape.end(), sample_shape.begin(), sample_shape.end());
  if (request.num < 1) {
    return absl::InvalidArgumentError(absl::StrCat("num = ", request.num, " must be >= 1"));
  }
  if (request.x_start.defined() && request.x_start.sizes() != at::IntArrayRef(full_shape)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "x_T has shape [", absl::StrJoin(request.x_start.sizes(), ", "), "], want [",
        absl::StrJoin(full_shape, ", "), "]"));
  }
  const int64_t chunk = p.config.sampler().batch_size();
  std::vector<at::Tensor> parts, labels;
  const auto start = std::chrono::steady_clock::now();
  try {
    for (int64_t first = 0; first < request.num; first += chunk) {
      const int64_t count = std::min(chunk, request.num - first);
      PhiloxNoise noise(request.seed, first);
      PriorSample prior = p.prior->Sample(count, sample_shape, noise);
      if (request.x_start.defined()) {
        prior.x_start = request.x_start.slice(0, first, first + count).to(torch::kFloat32);
      }
      // A prior that estimates x0 from labelled data (diffused_estimate) supplies the labels
      // its start belongs to; otherwise they come from the sampler options.
      if (!prior.condition.label.defined()) prior.condition.label = p.LabelsFor(first, count);
      if (prior.condition.label.defined()) labels.push_back(prior.condition.label);
      parts.push_back(RunReverseProcess(p.sampling(), prior.x_start, p.times, prior.condition,
                                        noise));
      if (request.progress != nullptr) {
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        *request.progress << absl::StrFormat("sampled %d/%d (%d steps) in %.1f s", first + count,
                                             request.num, p.times.size(), elapsed)
                          << std::endl;
      }
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("sampling failed: ", e.what_without_backtrace()));
  }
  return Generated{torch::cat(parts, 0), labels.empty() ? at::Tensor() : torch::cat(labels, 0)};
}

}  // namespace diffuse
