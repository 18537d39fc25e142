#include "reverse/multistep_updates.h"

#include <cmath>
#include <utility>

#include <ATen/TensorOperators.h>
#include <ATen/ops/add.h>

namespace diffuse {
namespace {

// phi2(H) = 1 - (1 - e^{-H}) / H: the weight of D1 = h x0' (int_0^H e^{-(H-v)} v dv / H).
double Phi2(double H) { return std::expm1(-H) / H + 1; }

// Solves A w = b in place (n <= 3; Gaussian elimination with partial pivoting).
std::vector<double> Solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    std::swap(b[c], b[pivot]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> w(n);
  for (size_t c = n; c-- > 0;) {
    double v = b[c];
    for (size_t k = c + 1; k < n; ++k) v -= a[c][k] * w[k];
    w[c] = v / a[c][c];
  }
  return w;
}

// B(h) in the x0 form (hh = -h).
double UniB(double h, bool bh2) { return bh2 ? std::expm1(-h) : -h; }

// D1_k = (m_k - m0) / r_k, r_k = (lambda_k - lambda_s0) / h, for the first n past entries.
void UniDifferences(const at::Tensor& m0, const std::vector<PastX0>& past, size_t n,
                    double lambda_s0, double h, std::vector<double>* rks,
                    std::vector<at::Tensor>* d1s) {
  for (size_t k = 0; k < n; ++k) {
    const double r = (past[k].lambda - lambda_s0) / h;
    rks->push_back(r);
    d1s->push_back((past[k].x0 - m0) / r);
  }
}

// sigma_t / sigma_s0 x - alpha_t (e^{-h} - 1) m0 - alpha_t B(h) sum_k rho_k D_k.
at::Tensor UniUpdate(const at::Tensor& x, const at::Tensor& m0, GaussianPoint s0,
                     GaussianPoint t, double h, bool bh2, const std::vector<double>& rhos,
                     const std::vector<at::Tensor>& ds) {
  at::Tensor out = at::add(x * (t.sigma / s0.sigma), m0, -t.alpha * std::expm1(-h));
  const double scale = -t.alpha * UniB(h, bh2);
  for (size_t k = 0; k < ds.size(); ++k) out = at::add(out, ds[k], scale * rhos[k]);
  return out;
}

}  // namespace

at::Tensor DpmSolverPlusPlusStep(const at::Tensor& x_t, const at::Tensor& x0,
                                 const std::vector<PastX0>& past, GaussianPoint t,
                                 GaussianPoint s, const DpmSolverPlusPlusRule& rule,
                                 const at::Tensor& z) {
  const double h = s.lambda() - t.lambda();
  const double H = (1 + rule.eta) * h;
  const double first = -std::expm1(-H);  // 1 - e^{-H}
  // e^{-eta h}: 1 for the ODE also where h = inf (a start at alpha = 0).
  const double decay = rule.eta > 0 ? std::exp(-rule.eta * h) : 1.0;
  at::Tensor out = at::add(x_t * (s.sigma / t.sigma * decay), x0, s.alpha * first);
  if (rule.order == 2) {
    const double r = (t.lambda() - past[0].lambda) / h;
    const double c2 = rule.second_order == SecondOrderRule::kMidpoint ? first / 2 : Phi2(H);
    out = at::add(out, (x0 - past[0].x0) / r, s.alpha * c2);
  } else if (rule.order == 3) {
    const double r0 = (t.lambda() - past[0].lambda) / h;
    const double r1 = (past[0].lambda - past[1].lambda) / h;
    const at::Tensor d1_0 = (x0 - past[0].x0) / r0;
    const at::Tensor d1_1 = (past[0].x0 - past[1].x0) / r1;
    const at::Tensor d2 = (d1_0 - d1_1) / (r0 + r1);
    const at::Tensor d1 = at::add(d1_0, d2, r0);
    const double phi3 = Phi2(H) / H - 0.5;
    out = at::add(at::add(out, d1, s.alpha * Phi2(H)), d2, -s.alpha * rule.d2_weight * phi3);
  }
  if (rule.eta > 0) out = at::add(out, z, s.sigma * std::sqrt(-std::expm1(-2 * rule.eta * h)));
  return out;
}

std::vector<double> UniWeights(const std::vector<double>& rks, double h, bool bh2) {
  const size_t n = rks.size();
  const double hh = -h;
  const double b_h = UniB(h, bh2);
  double h_phi_k = std::expm1(hh) / hh - 1;
  double factorial = 1;
  std::vector<double> b(n);
  std::vector<std::vector<double>> a(n, std::vector<double>(n));
  for (size_t i = 1; i <= n; ++i) {
    for (size_t k = 0; k < n; ++k) a[i - 1][k] = std::pow(rks[k], static_cast<double>(i - 1));
    b[i - 1] = h_phi_k * factorial / b_h;
    factorial *= static_cast<double>(i + 1);
    h_phi_k = h_phi_k / hh - 1 / factorial;
  }
  return Solve(std::move(a), std::move(b));
}

at::Tensor UniPredictorStep(const at::Tensor& x, const at::Tensor& m0,
                            const std::vector<PastX0>& past, GaussianPoint s0, GaussianPoint t,
                            int order, bool bh2) {
  const double h = t.lambda() - s0.lambda();
  std::vector<double> rks;
  std::vector<at::Tensor> d1s;
  UniDifferences(m0, past, order - 1, s0.lambda(), h, &rks, &d1s);
  // Order 2 takes rho = 1/2 (the paper's and diffusers' simplification), not the solve.
  const std::vector<double> rhos =
      order == 2 ? std::vector<double>{0.5} : (order > 2 ? UniWeights(rks, h, bh2)
                                                         : std::vector<double>{});
  return UniUpdate(x, m0, s0, t, h, bh2, rhos, d1s);
}

at::Tensor UniCorrectorStep(const at::Tensor& x, const at::Tensor& m0,
                            const std::vector<PastX0>& past, const at::Tensor& model_t,
                            GaussianPoint s0, GaussianPoint t, int order, bool bh2) {
  const double h = t.lambda() - s0.lambda();
  std::vector<double> rks;
  std::vector<at::Tensor> ds;
  UniDifferences(m0, past, order - 1, s0.lambda(), h, &rks, &ds);
  rks.push_back(1.0);
  ds.push_back(model_t - m0);
  const std::vector<double> rhos = order == 1 ? std::vector<double>{0.5} : UniWeights(rks, h, bh2);
  return UniUpdate(x, m0, s0, t, h, bh2, rhos, ds);
}

}  // namespace diffuse
