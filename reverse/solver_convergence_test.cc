// Deterministic solvers against a reference trajectory: from the same x_T, the error to the
// probability-flow ODE solution (DDIM with 4000 steps) at N steps on the Karras grid. Euler is first order;
// Heun and DPM-Solver++(2M) are second order and must beat it at equal N. The curve is
// printed (docs/components.md quotes it).
#include <cstdio>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>

#include "assembly/test_support.h"
#include "gtest/gtest.h"
#include "reverse/sampler.h"

namespace diffuse {
namespace {

// Continuous linear VP: sigma / alpha runs from 152 at t = 1 down to 0. (The clipped cosine
// schedule starts at 3e4, where a Heun step's error constant is huge, which is why EDM caps
// sigma_max at 80.)
constexpr char kForward[] = R"(name: "gaussian_vp" options {
    [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: LINEAR continuous_time: true } })";

at::Tensor Solve(const std::string& reverse, int steps, const at::Tensor& x_T) {
  auto p = BuildOrFail(OracleText{.forward = kForward,
                                  .reverse = reverse,
                                  .sampler = "grid: KARRAS num_steps: " + std::to_string(steps)}
                           .Text());
  EXPECT_NE(p, nullptr);
  PhiloxNoise unused(0);
  return RunReverseProcess(p->sampling(), x_T.clone(), p->times, {}, unused);
}

TEST(SolverConvergenceTest, SecondOrderSolversBeatEulerAndConvergeFaster) {
  PhiloxNoise noise(3);
  const at::Tensor x_T = noise.Normal({512, 2}).to(at::kDouble);
  const at::Tensor reference = Solve(R"(name: "substitution")", 4000, x_T);
  std::map<std::string, std::vector<double>> errors;
  const std::vector<int> steps = {5, 10, 20, 40};
  std::printf("%-10s", "steps");
  for (int n : steps) std::printf("%10d", n);
  std::printf("\n");
  for (const char* solver : {"euler", "heun", "dpmpp_2m", "dpmpp_3m", "unipc"}) {
    std::printf("%-10s", solver);
    for (int n : steps) {
      const std::string reverse = std::string("name: \"") + solver + "\"";
      const double e = (Solve(reverse, n, x_T) - reference).norm(2, 1).mean().item<double>();
      errors[solver].push_back(e);
      std::printf("%10.5f", e);
    }
    std::printf("\n");
  }
  // Measured: at N = 5 and 10 the 8-mode posterior mean changes too fast for the
  // extrapolating solvers (DPM++ 0.47 vs Euler 0.32 at N = 10); from N = 20 on both are
  // in their second-order regime and well ahead.
  for (size_t i = 2; i < steps.size(); ++i) {
    EXPECT_LT(errors["heun"][i], 0.5 * errors["euler"][i]) << "N=" << steps[i];
    EXPECT_LT(errors["dpmpp_2m"][i], 0.5 * errors["euler"][i]) << "N=" << steps[i];
  }
  // Measured at N = 20 / 40: DPM-Solver++(3M) 0.104 / 0.0086, UniPC (p = 2, B(h) = e^h - 1,
  // with its corrector) 0.020 / 0.0055: the higher orders pay from N = 20 on.
  for (const char* solver : {"dpmpp_3m", "unipc"}) {
    EXPECT_LT(errors[solver][3], errors["dpmpp_2m"][3]) << solver;
  }
  EXPECT_LT(errors["unipc"][2], 0.5 * errors["dpmpp_2m"][2]);
  for (size_t i = 1; i < steps.size(); ++i) {
    for (const auto& [name, e] : errors) EXPECT_LT(e[i], e[i - 1]) << name;
  }
  // Doubling N from 20 to 40: ~2x for first order, ~4x for second order.
  EXPECT_GT(errors["dpmpp_2m"][2] / errors["dpmpp_2m"][3], 3.0);
  EXPECT_GT(errors["heun"][2] / errors["heun"][3], 3.0);
  EXPECT_LT(errors["euler"][2] / errors["euler"][3], 2.6);
}

TEST(SolverConvergenceTest, EulerIsDdim) {
  PhiloxNoise noise(4);
  const at::Tensor x_T = noise.Normal({64, 2}).to(at::kDouble);
  EXPECT_TRUE(at::allclose(Solve(R"(name: "euler")", 30, x_T),
                              Solve(R"(name: "substitution")", 30, x_T), 1e-10, 1e-10));
}

}  // namespace
}  // namespace diffuse
