#include "forward/vp_schedules.h"

#include <algorithm>
#include <cmath>

namespace diffuse {
namespace {

std::vector<double> Linspace(double a, double b, int64_t n) {
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) out[i] = n == 1 ? a : a + (b - a) * i / (n - 1);
  return out;
}

}  // namespace

std::vector<double> LinearBetas(int64_t num_steps, double beta_start, double beta_end) {
  return Linspace(beta_start, beta_end, num_steps);
}

std::vector<double> ScaledLinearBetas(int64_t num_steps, double beta_start, double beta_end) {
  std::vector<double> betas = Linspace(std::sqrt(beta_start), std::sqrt(beta_end), num_steps);
  for (double& b : betas) b *= b;
  return betas;
}

std::vector<double> CosineBetas(int64_t num_steps, double offset, double max_beta) {
  auto f = [&](double u) {
    const double c = std::cos((u + offset) / (1 + offset) * M_PI / 2);
    return c * c;
  };
  std::vector<double> betas(num_steps);
  for (int64_t i = 1; i <= num_steps; ++i) {
    const double u1 = static_cast<double>(i) / num_steps;
    const double u0 = static_cast<double>(i - 1) / num_steps;
    betas[i - 1] = std::min(1 - f(u1) / f(u0), max_beta);
  }
  return betas;
}

std::vector<double> AlphaBars(const std::vector<double>& betas) {
  std::vector<double> alpha_bars(betas.size() + 1);
  alpha_bars[0] = 1.0;
  for (size_t i = 0; i < betas.size(); ++i) alpha_bars[i + 1] = alpha_bars[i] * (1 - betas[i]);
  return alpha_bars;
}

}  // namespace diffuse

namespace diffuse {

double LinearAlphaBar(double u, double b0, double b1) {
  return std::exp(-(b0 * u + 0.5 * (b1 - b0) * u * u));
}

double CosineAlphaBar(double u, double offset) {
  auto f = [&](double v) {
    const double c = std::cos((v + offset) / (1 + offset) * M_PI / 2);
    return c * c;
  };
  return f(u) / f(0);
}

double SigmoidAlphaBar(double u, double start, double end, double tau) {
  auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
  const double v_start = sigmoid(start / tau), v_end = sigmoid(end / tau);
  return (v_end - sigmoid((u * (end - start) + start) / tau)) / (v_end - v_start);
}

void RescaleToZeroTerminalSnr(std::vector<double>* alpha_bars, size_t first) {
  std::vector<double>& ab = *alpha_bars;
  const double s_first = std::sqrt(ab[first]), s_last = std::sqrt(ab.back());
  for (size_t i = first; i < ab.size(); ++i) {
    const double s = (std::sqrt(ab[i]) - s_last) * s_first / (s_first - s_last);
    ab[i] = s * s;
  }
}

}  // namespace diffuse
