// Multistep exponential integrators of the data-prediction ODE / SDE (every Gaussian
// family), as free functions of the coefficients and the x0-predictions of earlier steps:
// DPM-Solver++ of order 1-3 and its SDE (Lu et al. 2022, "DPM-Solver++", Alg. 2 and
// App. B; the third order and the SDE as in the authors' code, diffusers and k-diffusion),
// and UniPC's predictor UniP-p and corrector UniC-p with B(h) (Zhao et al. 2023, Alg. 2-3).
//
// With lambda = log(alpha / sigma) and h = lambda_s - lambda_t, the ODE's exact solution is
//   x_s = (sigma_s / sigma_t) x_t + alpha_s int_0^h e^{-(h - u)} x0(lambda_t + u) du,
// and each method replaces x0(.) by a polynomial through the predictions it has.
#ifndef DIFFUSE_REVERSE_MULTISTEP_UPDATES_H_
#define DIFFUSE_REVERSE_MULTISTEP_UPDATES_H_

#include <vector>

#include <ATen/core/Tensor.h>

#include "reverse/gaussian_steps.h"

namespace diffuse {

// An x0-prediction of an earlier step and the log-SNR it was made at.
struct PastX0 {
  double lambda;
  at::Tensor x0;
};

enum class SecondOrderRule {
  kMidpoint,  // D1 / 2 with the first-order weight (DPM-Solver++(2M), Alg. 2)
  kHeun,      // phi_2: the exact weight of the linear term
};

struct DpmSolverPlusPlusRule {
  int order = 2;  // 1..3, the caller lowers it where history is missing
  // 0: the ODE. 1: the SDE dx = ... of diffusers' "sde-dpmsolver++" (k-diffusion's eta).
  double eta = 0;
  SecondOrderRule second_order = SecondOrderRule::kMidpoint;
  // Weight w of the D2 term. D2 approximates h^2 x0'' / 2, and the quadratic term's exact
  // weight is int_0^h e^{-(h-u)} u^2 / 2 du x0'' = -2 phi3(h) D2 with
  // phi3(h) = (e^{-h} - 1 + h) / h^2 - 1/2: w = 2 is third order. The authors' code,
  // diffusers and k-diffusion use w = 1 (second order as h -> 0; multistep_updates_test).
  double d2_weight = 2;
};

// DPM-Solver++ from t to s (sigma_s > 0) given x0 at (x_t, t) and `past` (newest first, at
// least order - 1 entries with finite lambda). With H = (1 + eta) h:
//   x_s = (sigma_s / sigma_t) e^{-eta h} x_t + alpha_s [(1 - e^{-H}) D0 + c2 D1 - w phi3(H) D2]
//         + sigma_s sqrt(1 - e^{-2 eta h}) z.
// `z` is used only when eta > 0.
at::Tensor DpmSolverPlusPlusStep(const at::Tensor& x_t, const at::Tensor& x0,
                                 const std::vector<PastX0>& past, GaussianPoint t,
                                 GaussianPoint s, const DpmSolverPlusPlusRule& rule,
                                 const at::Tensor& z);

// UniP-p, B(h) = h (bh1) or e^h - 1 (bh2): from x at s0, whose prediction is m0, to t,
// with the p - 1 newest entries of `past`.
at::Tensor UniPredictorStep(const at::Tensor& x, const at::Tensor& m0,
                            const std::vector<PastX0>& past, GaussianPoint s0, GaussianPoint t,
                            int order, bool bh2);

// UniC-p: the step s0 -> t redone with model_t, the prediction at the predictor's result
// (no extra network call); x and m0 as for the predictor that made that result.
at::Tensor UniCorrectorStep(const at::Tensor& x, const at::Tensor& m0,
                            const std::vector<PastX0>& past, const at::Tensor& model_t,
                            GaussianPoint s0, GaussianPoint t, int order, bool bh2);

// UniPC's weights: solves sum_k rho_k r_k^(i-1) = b_i, i = 1..n, where
// b_i = i! h phi_{i+1}(h) / B(h) (phi in the x0 form, hh = -h); `rks` are the n nodes.
std::vector<double> UniWeights(const std::vector<double>& rks, double h, bool bh2);

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_MULTISTEP_UPDATES_H_
