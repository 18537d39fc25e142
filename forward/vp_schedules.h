// Noise schedules of the variance-preserving process as free functions (components and
// tests both call them). Betas are indexed 1..T as in DDPM (element i-1 is beta_i).
#ifndef DIFFUSE_FORWARD_VP_SCHEDULES_H_
#define DIFFUSE_FORWARD_VP_SCHEDULES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace diffuse {

// DDPM (Ho et al. 2020): beta_i = linspace(beta_start, beta_end, T).
std::vector<double> LinearBetas(int64_t num_steps, double beta_start, double beta_end);

// Latent Diffusion / Stable Diffusion "scaled_linear": linspace of sqrt(beta), squared.
std::vector<double> ScaledLinearBetas(int64_t num_steps, double beta_start, double beta_end);

// Improved DDPM (Nichol & Dhariwal 2021, eq. 17): alpha_bar(u) = f(u)/f(0),
// f(u) = cos^2(pi/2 (u + s)/(1 + s)), beta_i = min(1 - f(i/T)/f((i-1)/T), max_beta).
std::vector<double> CosineBetas(int64_t num_steps, double offset, double max_beta);

// alpha_bar_t = prod_{i<=t} (1 - beta_i) for t = 0..T (alpha_bar_0 = 1, clean data).
std::vector<double> AlphaBars(const std::vector<double>& betas);

// Continuous-time alpha_bar(u), u in [0, 1].
// VP SDE (Song et al. 2021, eq. 33): exp(-(b0 u + (b1 - b0) u^2 / 2)).
double LinearAlphaBar(double u, double b0, double b1);
// f(u) / f(0) with the cosine f above.
double CosineAlphaBar(double u, double offset);
// Chen 2023, Alg. 1 (sigmoid_schedule).
double SigmoidAlphaBar(double u, double start, double end, double tau);

// Lin et al. 2024, Alg. 1 on sqrt(alpha_bar): s' = (s - s_last) s_first / (s_first - s_last),
// applied to entries [first, end) of `alpha_bars`.
void RescaleToZeroTerminalSnr(std::vector<double>* alpha_bars, size_t first);

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_VP_SCHEDULES_H_
