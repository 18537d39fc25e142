// Forward "blur": cold diffusion / heat dissipation; see blur.proto for the definition.
#include <cmath>
#include <memory>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/_unique.h>
#include <ATen/ops/add.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/zeros.h>

#include "absl/strings/str_join.h"
#include "data/dataset.h"
#include "forward/blur.pb.h"
#include "forward/forward_process.h"
#include "forward/gaussian_blur.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Blur : public ForwardProcess {
 public:
  Blur(const BlurOptions& options, Dataset* data) : options_(options) {
    if (data != nullptr && data->sample_shape().size() == 3) FitTerminal(*data);
  }

  DataKind data_kind() const override { return DataKind::kContinuous; }
  TimeDomain time_domain() const override { return {true, options_.num_steps()}; }

  absl::Status CheckSampleShape(at::IntArrayRef shape) const override {
    if (shape.size() == 3) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "blurs images [C, H, W]; samples have shape [", absl::StrJoin(shape, ", "), "]"));
  }

  at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const override {
    if (t.is_shared()) return at::add(BlurAt(x0, t.shared()), eps, NoiseScale(t.shared()));
    at::Tensor out = at::empty_like(x0);
    const at::Tensor times = t.per_sample();
    const at::Tensor unique = std::get<0>(at::_unique(times));
    for (int64_t i = 0; i < unique.size(0); ++i) {
      const double value = unique[i].item<double>();
      const at::Tensor rows = times.eq(value).nonzero().squeeze(1);
      out.index_copy_(0, rows, Apply(x0.index_select(0, rows), value, eps.index_select(0, rows)));
    }
    return out;
  }

  at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const override {
    return NoiseIsStandardNormal() ? noise.Normal(shape) : at::zeros(shape);
  }

  bool IsInvertible() const override { return true; }
  at::Tensor InvertNoise(const at::Tensor& x0, const at::Tensor& x_t,
                         const Time& t) const override {
    TORCH_CHECK(t.is_shared(), "blur: InvertNoise runs at a shared time");
    const double scale = NoiseScale(t.shared());
    TORCH_CHECK(scale > 0, "blur: InvertNoise at t = 0 with noise");
    return (x_t - BlurAt(x0, t.shared())) / scale;
  }

  bool NoiseIsStandardNormal() const override { return options_.noise_std() > 0; }

  at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const override {
    TORCH_CHECK(terminal_mean_.defined(), "blur: no terminal fit (needs image data)");
    // m + D^T z / sqrt(n - 1), z ~ N(0, I_n): exactly N(m, D^T D / (n - 1)), the fit's full
    // empirical covariance (blurred images are smooth; a diagonal fit would start from
    // pixel-independent noise that no blurred image resembles), in O(n CHW).
    const int64_t n = terminal_deviations_.size(0);
    const at::Tensor z = noise.Normal({shape[0], n});
    at::Tensor x = terminal_mean_ + at::mm(z, terminal_deviations_)
                                        .div_(std::sqrt(double(n - 1)))
                                        .view(shape);
    const double c = options_.noise_std();
    return c > 0 ? x + c * noise.Normal(shape) : x;
  }

 private:
  double BlurSigma(double t) const {
    return options_.blur_sigma_max() * std::sqrt(t / options_.num_steps());
  }
  at::Tensor BlurAt(const at::Tensor& x, double t) const { return GaussianBlur(x, BlurSigma(t)); }
  // c_t: 1 for the deterministic residual, noise_std (0 at t = 0) with noise.
  double NoiseScale(double t) const {
    if (options_.noise_std() == 0) return 1.0;
    return t == 0 ? 0.0 : options_.noise_std();
  }

  void FitTerminal(Dataset& data) {
    at::NoGradGuard no_grad;
    at::Generator gen = at::detail::createCPUGenerator(0);
    const at::Tensor blurred =
        BlurAt(data.Sample(options_.terminal_fit_samples(), gen).x, options_.num_steps());
    terminal_mean_ = blurred.mean(0, true);
    terminal_deviations_ = (blurred - terminal_mean_).flatten(1).contiguous();
  }

  BlurOptions options_;
  at::Tensor terminal_mean_;        // [1, C, H, W]
  at::Tensor terminal_deviations_;  // [n, C H W]: fit draws minus the mean
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const BlurOptions& o,
                                                     const BuildContext& context) {
  ABSL_RETURN_IF_ERROR(CheckInRange("num_steps", o.num_steps(), 1, 10000));
  ABSL_RETURN_IF_ERROR(CheckInRange("blur_sigma_max", o.blur_sigma_max(), 1e-9, 100));
  ABSL_RETURN_IF_ERROR(CheckInRange("noise_std", o.noise_std(), 0, 10));
  ABSL_RETURN_IF_ERROR(CheckInRange("terminal_fit_samples", o.terminal_fit_samples(), 2, 100000));
  return std::unique_ptr<ForwardProcess>(new Blur(o, context.data));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "blur", BlurOptions, Make);

}  // namespace diffuse
