// Builds pipelines from description text in tests, as the CLI does from files.
#ifndef DIFFUSE_PIPELINE_TEST_SUPPORT_H_
#define DIFFUSE_PIPELINE_TEST_SUPPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pipeline/builder.h"

namespace diffuse {

// Parses and builds `text` (all registered components are linked).
absl::StatusOr<std::unique_ptr<Pipeline>> BuildFromText(const std::string& text);

// The same, failing the current test (and returning nullptr) on error.
std::unique_ptr<Pipeline> BuildOrFail(const std::string& text);

// A description of the exact mixture oracle on the eight-Gaussians ring with a linear VP
// process; each argument replaces its section (text inside the braces).
struct OracleText {
  std::string forward = R"(name: "gaussian_vp")";
  std::string prior = R"(name: "standard_normal")";
  std::string reverse = R"(name: "substitution")";
  std::string sampler = "num_steps: 50";
  std::string guidance;  // whole `guidance { ... }` blocks, may be empty
  std::string Text() const;
};

}  // namespace diffuse

#endif  // DIFFUSE_PIPELINE_TEST_SUPPORT_H_
