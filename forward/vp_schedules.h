// Noise schedules of the variance-preserving process as free functions (components and
// tests both call them). Betas are indexed 1..T as in DDPM (element i-1 is beta_i).
#ifndef DIFFUSE_FORWARD_VP_SCHEDULES_H_
#define DIFFUSE_FORWARD_VP_SCHEDULES_H_

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

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_VP_SCHEDULES_H_
