// The multistep solvers against their published updates, written out here in float64 from
// the papers (DPM-Solver++ App. B and the authors' third-order code as diffusers prints it;
// UniPC Alg. 2-3 with the weights by Cramer's rule and phi_k in closed form), step by step
// on Gaussian data with the exact x0-predictor; and their orders of convergence against the
// closed-form probability-flow ODE solution of that data.
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>
#include <ATen/ops/linspace.h>

#include "assembly/test_support.h"
#include "forward/forward_process.h"
#include "gtest/gtest.h"
#include "random/noise_source.h"
#include "reverse/reverse_conditional.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "pipeline/registry.h"

namespace diffuse {
namespace {

constexpr char kVp[] = R"(name: "gaussian_vp" options {
    [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: LINEAR continuous_time: true } })";
constexpr double kDataStd = 0.5;  // x0 ~ N(0, 0.25 I)

struct Point {
  double alpha, sigma;
  double lambda() const { return std::log(alpha / sigma); }
};

// E[x0 | x_t] for x0 ~ N(0, c^2 I).
at::Tensor ExactX0(const at::Tensor& x, Point p) {
  const double c2 = kDataStd * kDataStd;
  return x * (p.alpha * c2 / (p.alpha * p.alpha * c2 + p.sigma * p.sigma));
}

// The probability-flow ODE keeps x / sqrt(alpha^2 c^2 + sigma^2) constant on this data.
at::Tensor ExactFlow(const at::Tensor& x, Point from, Point to) {
  const double c2 = kDataStd * kDataStd;
  return x * std::sqrt((to.alpha * to.alpha * c2 + to.sigma * to.sigma) /
                       (from.alpha * from.alpha * c2 + from.sigma * from.sigma));
}

// ---- The published updates, transcribed (x at s0 = the current time, t = the next). ----

struct History {
  std::vector<at::Tensor> m;       // x0-predictions, newest first
  std::vector<double> lambda;      // their log-SNRs
};

struct DpmRef {
  int max_order;
  bool sde;
  bool heun;     // solver_type "heun"
  bool taylor;   // the Taylor weight of D2 instead of the codes' phi_3
  bool lower_order_final = true;
};

// diffusers' DPMSolverMultistepScheduler.step for dpmsolver++ / sde-dpmsolver++.
at::Tensor DpmReference(const DpmRef& r, History& hist, const at::Tensor& x, const at::Tensor& m0,
                        Point s0, Point t, int index, int n, const at::Tensor& z) {
  hist.m.insert(hist.m.begin(), m0);
  hist.lambda.insert(hist.lambda.begin(), s0.lambda());
  if (t.sigma == 0) return m0 * t.alpha;
  int order = std::min<int>(r.max_order, hist.m.size());
  if (r.lower_order_final && n < 15 && index == n - 2) order = std::min(order, 2);
  const double h = t.lambda() - s0.lambda();
  const double alpha_t = t.alpha, sigma_t = t.sigma, sigma_s0 = s0.sigma;
  at::Tensor out;
  if (order == 1) {
    out = r.sde ? (sigma_t / sigma_s0 * std::exp(-h)) * x + (alpha_t * (1.0 - std::exp(-2.0 * h))) * m0
                : (sigma_t / sigma_s0) * x - (alpha_t * (std::exp(-h) - 1.0)) * m0;
  } else if (order == 2) {
    const double r0 = (hist.lambda[0] - hist.lambda[1]) / h;
    const at::Tensor D0 = m0, D1 = (1.0 / r0) * (m0 - hist.m[1]);
    if (!r.sde) {
      out = r.heun ? (sigma_t / sigma_s0) * x - (alpha_t * (std::exp(-h) - 1.0)) * D0 +
                         (alpha_t * ((std::exp(-h) - 1.0) / h + 1.0)) * D1
                   : (sigma_t / sigma_s0) * x - (alpha_t * (std::exp(-h) - 1.0)) * D0 -
                         0.5 * (alpha_t * (std::exp(-h) - 1.0)) * D1;
    } else {
      out = r.heun ? (sigma_t / sigma_s0 * std::exp(-h)) * x +
                         (alpha_t * (1.0 - std::exp(-2.0 * h))) * D0 +
                         (alpha_t * ((1.0 - std::exp(-2.0 * h)) / (-2.0 * h) + 1.0)) * D1
                   : (sigma_t / sigma_s0 * std::exp(-h)) * x +
                         (alpha_t * (1.0 - std::exp(-2.0 * h))) * D0 +
                         0.5 * (alpha_t * (1.0 - std::exp(-2.0 * h))) * D1;
    }
  } else {
    const double h_0 = hist.lambda[0] - hist.lambda[1], h_1 = hist.lambda[1] - hist.lambda[2];
    const double r0 = h_0 / h, r1 = h_1 / h;
    const at::Tensor &m1 = hist.m[1], &m2 = hist.m[2];
    const at::Tensor D0 = m0;
    const at::Tensor D1_0 = (1.0 / r0) * (m0 - m1), D1_1 = (1.0 / r1) * (m1 - m2);
    const at::Tensor D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1);
    const at::Tensor D2 = (1.0 / (r0 + r1)) * (D1_0 - D1_1);
    // H = h (ODE) or 2h (SDE): the data term's exponent. The Taylor weight of D2 = h^2 x0''/2
    // is int_0^H e^{-(H-v)} v^2 dv / H^2 = (H^2 - 2H + 2 - 2 e^{-H}) / H^2.
    const double H = r.sde ? 2 * h : h;
    const double taylor = (H * H - 2 * H + 2 - 2 * std::exp(-H)) / (H * H);
    const double codes = -((std::exp(-H) - 1.0 + H) / (H * H) - 0.5);
    out = (sigma_t / sigma_s0 * (r.sde ? std::exp(-h) : 1.0)) * x +
          (alpha_t * (1.0 - std::exp(-H))) * D0 +
          (alpha_t * ((std::exp(-H) - 1.0) / H + 1.0)) * D1 +
          (alpha_t * (r.taylor ? taylor : codes)) * D2;
  }
  if (r.sde) out = out + sigma_t * std::sqrt(1.0 - std::exp(-2 * h)) * z;
  return out;
}

// UniPC (x0 form): g_i = i! (e^{hh} - sum_{j<=i} hh^j / j!) / hh^i / B(h), hh = -h.
std::vector<double> UniG(int n, double h, bool bh2) {
  const double hh = -h, B = bh2 ? std::exp(hh) - 1 : hh;
  std::vector<double> g;
  for (int i = 1; i <= n; ++i) {
    double partial = 0, fact = 1, fact_i = 1;
    for (int j = 0; j <= i; ++j) {
      if (j > 0) fact *= j;
      partial += std::pow(hh, j) / fact;
    }
    for (int j = 2; j <= i; ++j) fact_i *= j;
    g.push_back(fact_i * (std::exp(hh) - partial) / std::pow(hh, i) / B);
  }
  return g;
}

// Solves sum_k rho_k r_k^(i-1) = g_i by Cramer's rule (n <= 3).
std::vector<double> Cramer(const std::vector<double>& r, const std::vector<double>& g) {
  const size_t n = r.size();
  if (n == 1) return {g[0]};
  if (n == 2) {
    const double det = r[1] - r[0];
    return {(g[0] * r[1] - g[1]) / det, (g[1] - r[0] * g[0]) / det};
  }
  auto det3 = [](double a[3][3]) {
    return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
           a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
           a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  };
  double a[3][3];
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) a[i][k] = std::pow(r[k], i);
  const double d = det3(a);
  std::vector<double> rho(3);
  for (int k = 0; k < 3; ++k) {
    double b[3][3];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) b[i][j] = j == k ? g[i] : a[i][j];
    rho[k] = det3(b) / d;
  }
  return rho;
}

struct UniRef {
  int max_order;
  bool bh2;
  bool corrector;
  bool lower_order_final = true;
};

struct UniState {
  History hist;
  at::Tensor last_x;
  Point last{1, 1};
  int last_order = 1;
};

// One update: x at s0 (the previous step's start for UniC, this step's for UniP).
at::Tensor UniUpdate(const at::Tensor& x, const History& hist, size_t first, Point s0, Point t,
                     int order, bool bh2, const at::Tensor* model_t) {
  const double h = t.lambda() - s0.lambda();
  const at::Tensor& m0 = hist.m[first];
  std::vector<double> rks;
  std::vector<at::Tensor> ds;
  for (int k = 1; k < order; ++k) {
    rks.push_back((hist.lambda[first + k] - s0.lambda()) / h);
    ds.push_back((hist.m[first + k] - m0) / rks.back());
  }
  std::vector<double> rho;
  if (model_t != nullptr) {
    rks.push_back(1.0);
    ds.push_back(*model_t - m0);
    rho = order == 1 ? std::vector<double>{0.5} : Cramer(rks, UniG(order, h, bh2));
  } else if (order == 2) {
    rho = {0.5};
  } else if (order == 3) {
    rho = Cramer(rks, UniG(2, h, bh2));
  }
  const double B = bh2 ? std::exp(-h) - 1 : -h;
  at::Tensor out = (t.sigma / s0.sigma) * x - t.alpha * (std::exp(-h) - 1) * m0;
  for (size_t k = 0; k < ds.size(); ++k) out = out - t.alpha * B * rho[k] * ds[k];
  return out;
}

at::Tensor UniReference(const UniRef& r, UniState& st, const at::Tensor& x_in,
                        const at::Tensor& model, Point s0, Point t, int index, int n) {
  at::Tensor x = x_in;
  if (r.corrector && st.last_x.defined()) {
    x = UniUpdate(st.last_x, st.hist, 0, st.last, s0, st.last_order, r.bh2, &model);
  }
  st.hist.m.insert(st.hist.m.begin(), model);
  st.hist.lambda.insert(st.hist.lambda.begin(), s0.lambda());
  st.last_x = x;
  st.last = s0;
  if (t.sigma == 0) return model * t.alpha;
  int order = std::min<int>(r.max_order, st.hist.m.size());
  if (r.lower_order_final) order = std::min(order, n - index);
  st.last_order = order;
  return UniUpdate(x, st.hist, 0, s0, t, order, r.bh2, nullptr);
}

// ---- Driving a component and a reference over one run. ----

struct Trajectory {
  std::vector<at::Tensor> states;  // x after each step
};

std::unique_ptr<ForwardProcess> Vp() {
  return CreateOrFail<ForwardProcess>(kVp, BuildContext{});
}

Point At(const ForwardProcess& f, double t) {
  return {f.gaussian()->Alpha(t), f.gaussian()->Sigma(t)};
}

Trajectory RunComponent(const std::string& spec, const std::vector<double>& times,
                 const at::Tensor& x_T, uint64_t seed) {
  auto forward = Vp();
  auto reverse = CreateOrFail<ReverseConditional>(spec, BuildContext{});
  Trajectory run;
  if (reverse == nullptr) return run;
  EXPECT_TRUE(reverse->CheckCompatible(*forward).ok());
  PhiloxNoise noise(seed);
  reverse->Reset();
  at::Tensor x = x_T;
  const int n = static_cast<int>(times.size()) - 1;
  for (int i = 0; i < n; ++i) {
    ReverseStep step{forward.get(), times[i], times[i + 1], i, n, &noise, nullptr};
    x = reverse->Step(step, x, X0Prediction{ExactX0(x, At(*forward, times[i])), {}});
    run.states.push_back(x);
  }
  return run;
}

template <typename StepFn>
Trajectory RunReference(const std::vector<double>& times, const at::Tensor& x_T, uint64_t seed,
                 bool draws_noise, StepFn step_fn) {
  auto forward = Vp();
  PhiloxNoise noise(seed);
  Trajectory run;
  at::Tensor x = x_T;
  const int n = static_cast<int>(times.size()) - 1;
  for (int i = 0; i < n; ++i) {
    const Point s0 = At(*forward, times[i]), t = At(*forward, times[i + 1]);
    at::Tensor z;
    if (draws_noise && t.sigma > 0) z = noise.Normal(x.sizes()).to(at::kDouble);
    x = step_fn(x, ExactX0(x, s0), s0, t, i, n, z);
    run.states.push_back(x);
  }
  return run;
}

// Every state of the run, relative to the reference's scale.
double MaxRelativeError(const Trajectory& a, const Trajectory& b) {
  EXPECT_EQ(a.states.size(), b.states.size());
  double worst = 0;
  for (size_t i = 0; i < std::min(a.states.size(), b.states.size()); ++i) {
    const double scale = std::max(1.0, b.states[i].abs().max().item<double>());
    worst = std::max(worst, (a.states[i] - b.states[i]).abs().max().item<double>() / scale);
  }
  return worst;
}

std::vector<double> Grid(int n, double t_end) {
  std::vector<double> times;
  for (int i = 0; i <= n; ++i) times.push_back(1.0 + (t_end - 1.0) * i / n);
  return times;
}

// N + 1 times uniform in lambda from t = 1 to t_end (by bisection: lambda falls with t).
std::vector<double> LambdaGrid(const ForwardProcess& f, int n, double t_end) {
  const double l0 = At(f, 1.0).lambda(), l1 = At(f, t_end).lambda();
  std::vector<double> times = {1.0};
  for (int i = 1; i <= n; ++i) {
    const double target = l0 + (l1 - l0) * i / n;
    double lo = t_end, hi = 1.0;
    for (int k = 0; k < 200; ++k) {
      const double mid = 0.5 * (lo + hi);
      (At(f, mid).lambda() > target ? lo : hi) = mid;
    }
    times.push_back(i == n ? t_end : 0.5 * (lo + hi));
  }
  return times;
}

at::Tensor Start(int64_t num) {
  PhiloxNoise noise(11);
  return noise.Normal({num, 3}).to(at::kDouble);
}

struct DpmCase {
  std::string spec;
  DpmRef ref;
};

TEST(MultistepUpdatesTest, DpmSolverPlusPlusMatchesThePublishedUpdatesPerStep) {
  const std::vector<DpmCase> cases = {
      {R"(name: "dpmpp_3m")", {3, false, false, true}},
      {R"(name: "dpmpp_3m" options { [type.googleapis.com/diffuse.DpmSolverMultistepOptions] {
          third_order: PUBLISHED_CODE second_order: HEUN } })", {3, false, true, false}},
      {R"(name: "dpmpp_3m" options { [type.googleapis.com/diffuse.DpmSolverMultistepOptions] {
          lower_order_final: false } })", {3, false, false, true, false}},
      {R"(name: "dpmpp_2m_sde")", {2, true, false, true}},
      {R"(name: "dpmpp_2m_sde" options { [type.googleapis.com/diffuse.DpmSolverMultistepOptions] {
          second_order: HEUN } })", {2, true, true, true}},
      {R"(name: "dpmpp_3m_sde")", {3, true, false, true}},
      {R"(name: "dpmpp_3m_sde" options { [type.googleapis.com/diffuse.DpmSolverMultistepOptions] {
          third_order: PUBLISHED_CODE } })", {3, true, false, false}},
  };
  const at::Tensor x_T = Start(16);
  for (int n : {6, 25}) {
    // Ending at t = 0 (sigma = 0: the last step returns x0_hat) and short of it.
    for (double t_end : {0.0, 0.01}) {
      const std::vector<double> times = Grid(n, t_end);
      for (const DpmCase& c : cases) {
        const Trajectory got = RunComponent(c.spec, times, x_T, 5);
        History hist;
        const Trajectory want = RunReference(
            times, x_T, 5, c.ref.sde,
            [&](const at::Tensor& x, const at::Tensor& m0, Point s0, Point t, int i, int steps,
                const at::Tensor& z) { return DpmReference(c.ref, hist, x, m0, s0, t, i, steps, z); });
        EXPECT_LT(MaxRelativeError(got, want), 1e-8) << c.spec << " n=" << n << " end=" << t_end;
      }
    }
  }
}

TEST(MultistepUpdatesTest, UniPcMatchesThePublishedUpdatesPerStep) {
  const at::Tensor x_T = Start(16);
  for (int order : {1, 2, 3}) {
    for (bool bh2 : {true, false}) {
      for (bool corrector : {true, false}) {
        for (bool lower_order_final : {true, false}) {
          const std::string spec = absl::StrCat(
              R"(name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] { order: )",
              order, " variant: ", bh2 ? "BH2" : "BH1", " corrector: ", corrector,
              " lower_order_final: ", lower_order_final, " } }");
          for (int n : {5, 20}) {
            for (double t_end : {0.0, 0.01}) {
              const std::vector<double> times = Grid(n, t_end);
              const Trajectory got = RunComponent(spec, times, x_T, 5);
              UniState st;
              const UniRef ref{order, bh2, corrector, lower_order_final};
              const Trajectory want = RunReference(
                  times, x_T, 5, false,
                  [&](const at::Tensor& x, const at::Tensor& m0, Point s0, Point t, int i,
                      int steps, const at::Tensor&) {
                    return UniReference(ref, st, x, m0, s0, t, i, steps);
                  });
              const double err = MaxRelativeError(got, want);
              EXPECT_LT(err, 1e-8) << spec << " n=" << n << " end=" << t_end;
              for (const at::Tensor& x : got.states) ASSERT_TRUE(x.isfinite().all().item<bool>());
            }
          }
        }
      }
    }
  }
}

// diffusers' disable_corrector: the corrector of step i's result is skipped.
TEST(MultistepUpdatesTest, UniPcDisabledCorrectorIsUniPAtThatStep) {
  const at::Tensor x_T = Start(4);
  const std::vector<double> times = Grid(8, 0.01);
  const Trajectory all = RunComponent(R"(name: "unipc")", times, x_T, 0);
  const Trajectory none = RunComponent(R"(name: "unipc" options {
      [type.googleapis.com/diffuse.UniPcOptions] { corrector: false } })", times, x_T, 0);
  const Trajectory skip1 = RunComponent(R"(name: "unipc" options {
      [type.googleapis.com/diffuse.UniPcOptions] { disable_corrector: [0, 1, 2, 3, 4, 5, 6, 7] } })",
                                 times, x_T, 0);
  EXPECT_LT(MaxRelativeError(skip1, none), 1e-15);
  EXPECT_GT(MaxRelativeError(all, none), 1e-6);
  // The first step has nothing to correct: it is the same with and without.
  EXPECT_LT((all.states[0] - none.states[0]).abs().max().item<double>(), 1e-15);
}

// Global error at t_end = 0.05 against the exact flow, N = 20 .. 320 steps uniform in lambda
// (lower_order_final off, so every step after the warm-up runs at the solver's order).
TEST(MultistepUpdatesTest, OrdersOfConvergence) {
  auto forward = Vp();
  const at::Tensor x_T = Start(8);
  const at::Tensor exact = ExactFlow(x_T, At(*forward, 1.0), At(*forward, 0.05));
  const std::string off = "lower_order_final: false";
  const std::vector<std::pair<std::string, std::string>> solvers = {
      {"dpmpp_2m", R"(name: "dpmpp_2m")"},
      {"dpmpp_3m taylor", R"(name: "dpmpp_3m" options {
          [type.googleapis.com/diffuse.DpmSolverMultistepOptions] { )" + off + " } }"},
      {"dpmpp_3m code", R"(name: "dpmpp_3m" options {
          [type.googleapis.com/diffuse.DpmSolverMultistepOptions] { third_order: PUBLISHED_CODE )" +
                            off + " } }"},
      {"unip-2", R"(name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] {
          corrector: false )" + off + " } }"},
      {"unipc-1", R"(name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] {
          order: 1 )" + off + " } }"},
      {"unipc-2", R"(name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] { )" +
                      off + " } }"},
      {"unipc-3", R"(name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] {
          order: 3 )" + off + " } }"},
      {"unipc-3 bh1", R"(name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] {
          order: 3 variant: BH1 )" + off + " } }"},
  };
  const std::vector<int> steps = {20, 40, 80, 160, 320};
  std::map<std::string, double> order_at_end;
  std::printf("%-16s", "steps");
  for (int n : steps) std::printf("%12d", n);
  std::printf("   observed order (last doubling)\n");
  for (const auto& [name, spec] : solvers) {
    std::vector<double> errors;
    std::printf("%-16s", name.c_str());
    for (int n : steps) {
      const Trajectory run = RunComponent(spec, LambdaGrid(*forward, n, 0.05), x_T, 0);
      errors.push_back((run.states.back() - exact).abs().max().item<double>());
      std::printf("%12.3e", errors.back());
    }
    order_at_end[name] = std::log2(errors[3] / errors[4]);
    std::printf("   %.2f\n", order_at_end[name]);
  }
  // Measured: 1.94, 3.07, 2.11, 1.94, 2.00, 3.00, 3.89, 3.89.
  EXPECT_GT(order_at_end["dpmpp_2m"], 1.8);
  EXPECT_GT(order_at_end["dpmpp_3m taylor"], 2.8);
  EXPECT_LT(order_at_end["dpmpp_3m code"], 2.4);  // the codes' D2 weight: second order
  EXPECT_GT(order_at_end["unipc-1"], 1.8);
  EXPECT_GT(order_at_end["unipc-2"], 2.8);
  EXPECT_GT(order_at_end["unipc-3"], 3.6);
  EXPECT_GT(order_at_end["unipc-3 bh1"], 3.6);
  // UniP-2 is DPM-Solver++(2M) (rho = 1/2, B(h) = e^{-h} - 1).
  EXPECT_NEAR(order_at_end["unip-2"], order_at_end["dpmpp_2m"], 1e-9);
}

TEST(MultistepUpdatesTest, OptionsOutOfRangeAreRefused) {
  for (const char* bad : {
           R"(name: "unipc" options { [type.googleapis.com/diffuse.UniPcOptions] { order: 4 } })",
           R"(name: "dpmpp_3m" options {
               [type.googleapis.com/diffuse.DpmSolverMultistepOptions] { eta: 1 } })",
           R"(name: "dpmpp_2m_sde" options {
               [type.googleapis.com/diffuse.DpmSolverMultistepOptions] { third_order: TAYLOR } })",
           R"(name: "dpmpp_3m_sde" options {
               [type.googleapis.com/diffuse.DpmSolverMultistepOptions] { s_noise: 3 } })"}) {
    ComponentSpec spec;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(bad, &spec));
    EXPECT_FALSE(Registry<ReverseConditional>::Global().Create(spec, "reverse", {}).ok()) << bad;
  }
}

}  // namespace
}  // namespace diffuse
