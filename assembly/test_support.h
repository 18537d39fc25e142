// Builds pipelines from description text in tests, as the CLI does from files.
#ifndef DIFFUSE_ASSEMBLY_TEST_SUPPORT_H_
#define DIFFUSE_ASSEMBLY_TEST_SUPPORT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "assembly/builder.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "pipeline/registry.h"

namespace diffuse {

// Parses and builds `text` (all registered components are linked).
absl::StatusOr<std::unique_ptr<Pipeline>> BuildFromText(const std::string& text);

// The same, failing the current test (and returning nullptr) on error.
std::unique_ptr<Pipeline> BuildOrFail(const std::string& text);

// One component from its text-format ComponentSpec (e.g. `name: "blur" options {...}`),
// failing the current test (and returning nullptr) on error.
template <typename Interface>
std::unique_ptr<Interface> CreateOrFail(const std::string& spec_text, const BuildContext& context) {
  ComponentSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(spec_text, &spec)) {
    ADD_FAILURE() << "cannot parse ComponentSpec: " << spec_text;
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<Interface>> c =
      Registry<Interface>::Global().Create(spec, "component", context);
  if (!c.ok()) {
    ADD_FAILURE() << c.status() << "\nin: " << spec_text;
    return nullptr;
  }
  return std::move(c).value();
}

// A description of the exact mixture oracle on the eight-Gaussians ring with a linear VP
// process; each argument replaces its section (text inside the braces).
struct OracleText {
  std::string data = R"(name: "eight_gaussians")";
  std::string predictor = R"(name: "mixture_oracle")";
  std::string forward = R"(name: "gaussian_vp")";
  std::string prior = R"(name: "standard_normal")";
  std::string reverse = R"(name: "substitution")";
  std::string sampler = "num_steps: 50";
  std::string guidance;  // whole `guidance { ... }` blocks, may be empty
  std::string Text() const;
};

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_TEST_SUPPORT_H_
