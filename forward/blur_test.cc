// Blur (cold diffusion / heat dissipation): the blur itself, F_t^{-1}(F_t) round trips,
// exact recovery of x0 by substitution (cold diffusion's improved sampler), marginal
// consistency with noise, and the builder's refusals.
#include "forward/gaussian_blur.h"

#include <torch/types.h>

#include "assembly/test_support.h"
#include "data/dataset.h"
#include "gtest/gtest.h"
#include "pipeline/registry.h"
#include "random/noise_source.h"
#include "reverse/reverse_conditional.h"
#include "util/status_matchers.h"

namespace diffuse {
namespace {

using ::testing::HasSubstr;

// Smooth random 1 x 12 x 12 images: a few Gaussian bumps; registered here, as a user would.
class BumpImages : public Dataset {
 public:
  std::vector<int64_t> sample_shape() const override { return {1, 12, 12}; }
  DataBatch Sample(int64_t n, at::Generator& gen) override {
    const at::Tensor grid = torch::arange(12, torch::kFloat32);
    const at::Tensor cx = torch::rand({n, 1, 1, 1}, gen) * 12, cy = torch::rand({n, 1, 1, 1}, gen) * 12;
    const at::Tensor d2 = (grid.view({1, 1, 1, 12}) - cx).pow(2) + (grid.view({1, 1, 12, 1}) - cy).pow(2);
    return {(-d2 / 8).exp() * 2 - 1, at::Tensor()};
  }
};
absl::StatusOr<std::unique_ptr<Dataset>> MakeBumps(const NoOptions&, const BuildContext&) {
  return std::unique_ptr<Dataset>(new BumpImages);
}
DIFFUSE_REGISTER_COMPONENT(Dataset, "test_bump_images", NoOptions, MakeBumps);

struct Parts {
  std::unique_ptr<Dataset> data;
  std::unique_ptr<ForwardProcess> forward;
  std::unique_ptr<ReverseConditional> reverse;
};

Parts Build(double noise_std, const std::string& reverse) {
  static const PipelineConfig* config = new PipelineConfig;
  BuildContext context;
  context.config = config;
  Parts parts;
  parts.data = CreateOrFail<Dataset>(R"(name: "test_bump_images")", context);
  context.data = parts.data.get();
  parts.forward = CreateOrFail<ForwardProcess>(
      "name: \"blur\" options { [type.googleapis.com/diffuse.BlurOptions] "
      "{ num_steps: 20 blur_sigma_max: 3 noise_std: " + std::to_string(noise_std) + " } }",
      context);
  context.forward = parts.forward.get();
  parts.reverse = CreateOrFail<ReverseConditional>(reverse, context);
  return parts;
}

at::Tensor Images(Parts& p, int64_t n, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return p.data->Sample(n, gen).x;
}

TEST(GaussianBlurTest, PreservesConstantsAndSpreadsADeltaWithTheRightVariance) {
  EXPECT_TRUE(torch::allclose(GaussianBlur(torch::full({2, 3, 9, 9}, 0.7f), 2.0),
                              torch::full({2, 3, 9, 9}, 0.7f), 1e-6, 1e-6));
  at::Tensor delta = torch::zeros({1, 1, 41, 41}, torch::kFloat64);
  delta[0][0][20][20] = 1;
  const at::Tensor blurred = GaussianBlur(delta, 2.5);
  EXPECT_NEAR(blurred.sum().item<double>(), 1.0, 1e-12);
  const at::Tensor offset = torch::arange(-20, 21, torch::kFloat64);
  const double var = (blurred[0][0].sum(0) * offset.pow(2)).sum().item<double>();
  // The variance of the discrete Gaussian truncated at radius ceil(3 sigma) = 8 (6.2005,
  // 0.8% below sigma^2).
  double num = 0, den = 0;
  for (int i = -8; i <= 8; ++i) {
    num += i * i * std::exp(-i * i / (2 * 6.25));
    den += std::exp(-i * i / (2 * 6.25));
  }
  EXPECT_NEAR(var, num / den, 1e-9);
  EXPECT_NEAR(var, 2.5 * 2.5, 0.06);
}

TEST(BlurTest, ColdDiffusionSubstitutionRecoversTheTrueX0Exactly) {
  for (double noise : {0.0, 0.1}) {
    Parts p = Build(noise, R"(name: "substitution")");
    const at::Tensor x0 = Images(p, 8, 1);
    PhiloxNoise noise_source(2);
    at::Tensor x = p.forward->Apply(x0, 20.0, p.forward->SampleNoise(x0.sizes(), noise_source));
    EXPECT_GT((x - x0).abs().max().item<float>(), 0.1);  // really blurred
    for (int t = 20; t >= 1; --t) {
      ReverseStep step{p.forward.get(), double(t), double(t - 1), 20 - t, 20, &noise_source, nullptr};
      x = p.reverse->Step(step, x, {x0, at::Tensor()});
    }
    EXPECT_TRUE(torch::allclose(x, x0, 1e-5, 1e-5)) << "noise " << noise;
  }
}

TEST(BlurTest, InvertNoiseUndoesApplyIncludingPerSampleTimes) {
  Parts p = Build(0.2, R"(name: "substitution")");
  const at::Tensor x0 = Images(p, 6, 3);
  PhiloxNoise noise(4);
  const at::Tensor eps = noise.Normal({6, 1, 12, 12});
  for (double t : {1.0, 7.0, 20.0}) {
    EXPECT_TRUE(torch::allclose(p.forward->InvertNoise(x0, p.forward->Apply(x0, t, eps), t), eps,
                                1e-5, 1e-5));
  }
  const at::Tensor times = torch::tensor({1.0, 5.0, 5.0, 20.0, 0.0, 7.0}, torch::kFloat64);
  const at::Tensor x_t = p.forward->Apply(x0, Time(times), eps);
  EXPECT_TRUE(torch::allclose(x_t[1], p.forward->Apply(x0.slice(0, 1, 2), 5.0, eps.slice(0, 1, 2))[0]));
  EXPECT_TRUE(torch::equal(x_t[4], x0[4]));  // t = 0 is the clean image
}

TEST(BlurTest, MarginalConsistencyWithNoise) {
  for (const char* reverse : {R"(name: "resample")", R"(name: "substitution")",
                              R"(name: "partial_substitution")"}) {
    Parts p = Build(0.3, reverse);
    const int64_t n = 20000;
    const at::Tensor x0 = Images(p, n, 5);
    PhiloxNoise noise(6);
    const at::Tensor x_t = p.forward->Apply(x0, 15.0, noise.Normal(x0.sizes()));
    ReverseStep step{p.forward.get(), 15.0, 9.0, 0, 1, &noise, nullptr};
    const at::Tensor x_prev = p.reverse->Step(step, x_t, {x0, at::Tensor()});
    // z = F_9^{-1}(x0, x_prev) must be N(0, I), pixel by pixel.
    const at::Tensor z = p.forward->InvertNoise(x0, x_prev, 9.0).flatten(1);
    EXPECT_LT(z.mean(0).abs().max().item<float>(), 0.04) << reverse;
    EXPECT_LT((z.var(0) - 1).abs().max().item<float>(), 0.06) << reverse;
  }
}

TEST(BlurTest, TerminalStateFitsTheBlurredData) {
  Parts p = Build(0.0, R"(name: "substitution")");
  PhiloxNoise noise(7);
  const at::Tensor terminal = p.forward->SampleTerminal({4000, 1, 12, 12}, noise);
  const at::Tensor blurred = p.forward->Apply(Images(p, 4000, 8), 20.0, torch::zeros({4000, 1, 12, 12}));
  EXPECT_LT((terminal.mean(0) - blurred.mean(0)).abs().max().item<float>(), 0.05);
  EXPECT_LT((terminal.std(0) / blurred.std(0) - 1).abs().max().item<float>(), 0.1);
  // Neighbouring pixels of a blurred image are strongly correlated, and the terminal draws
  // must be too (a per-pixel fit would give correlation 0).
  auto neighbour_correlation = [](const at::Tensor& x) {
    const at::Tensor a = x.select(3, 5).flatten(1), b = x.select(3, 6).flatten(1);
    const at::Tensor da = a - a.mean(0), db = b - b.mean(0);
    return ((da * db).mean(0) / (a.std(0, false) * b.std(0, false))).mean().item<double>();
  };
  const double data_correlation = neighbour_correlation(blurred);
  EXPECT_GT(data_correlation, 0.5);
  EXPECT_NEAR(neighbour_correlation(terminal), data_correlation, 0.03);
}

TEST(BlurTest, TheBuilderRefusesWhatDoesNotFit) {
  // 2-D points are not images.
  EXPECT_THAT(BuildFromText(OracleText{.forward = R"(name: "blur")"}.Text()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("forward 'blur' on data 'eight_gaussians': blurs images")));
  // Deterministic blur has no standard-normal noise: no partial substitution; no Gaussian
  // coefficients: no ODE solvers.
  Parts p = Build(0.0, R"(name: "substitution")");
  for (const char* reverse : {R"(name: "partial_substitution")", R"(name: "dpmpp_2m")"}) {
    auto r = CreateOrFail<ReverseConditional>(reverse, BuildContext());
    ASSERT_NE(r, nullptr);
    EXPECT_THAT(r->CheckCompatible(*p.forward),
                StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("needs")))
        << reverse;
  }
}

}  // namespace
}  // namespace diffuse
