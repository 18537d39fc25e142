#include "assembly/image_to_image.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/isfinite.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "forward/gaussian.h"
#include "random/noise_source.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

// The known region's noise: a stream of its own per sample, so that the reverse process
// draws exactly what `sample` draws.
constexpr uint64_t kKnownRegionStream = 0x6b6e6f776e5f7265;  // "known_re"

// Restores the pipeline's grid when ImageToImage returns.
class GridRestorer {
 public:
  explicit GridRestorer(Pipeline& p) : p_(p), times_(p.times) {}
  ~GridRestorer() { p_.times = times_; }

 private:
  Pipeline& p_;
  std::vector<double> times_;
};

absl::Status CheckRequest(const Pipeline& p, const ImageToImageRequest& r) {
  if (p.kind != DescriptionKind::kDiffusion || p.forward->data_kind() != DataKind::kContinuous) {
    return absl::FailedPreconditionError(
        "image-to-image needs a diffusion description of real-valued data");
  }
  if (!p.prior->starts_at_standard_normal() || !p.forward->NoiseIsStandardNormal()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "image-to-image takes images to t with F_t(x0, eps), eps ~ N(0, I), the prior's own "
        "draw: prior '", p.config.prior().name(), "' must start at N(0, I) and forward '",
        p.config.forward().name(), "' draw standard normal noise"));
  }
  std::vector<int64_t> want = p.data->sample_shape();
  want.insert(want.begin(), r.images.defined() ? r.images.size(0) : 0);
  if (!r.images.defined() || r.images.dim() < 1 || r.images.size(0) < 1 ||
      r.images.sizes() != at::IntArrayRef(want)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "images: want [N, ", absl::StrJoin(p.data->sample_shape(), ", "), "], got [",
        r.images.defined() ? absl::StrJoin(r.images.sizes(), ", ") : "", "]"));
  }
  if (!at::isfinite(r.images).all().item<bool>()) {
    return absl::InvalidArgumentError("images: non-finite values");
  }
  if (!(r.strength >= 0 && r.strength <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("strength = ", r.strength, " must be in [0, 1]"));
  }
  if (r.resample < 1 || r.resample > 100) {
    return absl::InvalidArgumentError(absl::StrCat("resample = ", r.resample, " must be in [1, 100]"));
  }
  if (r.jump < 1 || r.jump > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("jump = ", r.jump, " must be in [1, 1000]"));
  }
  if (r.resample > 1 && (!r.mask.defined() || p.forward->gaussian() == nullptr ||
                         p.reverse->keeps_history())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "resample = ", r.resample, " needs a mask, a Gaussian forward process and a single-step "
        "reverse conditional (reverse '", p.config.reverse().name(), "'",
        p.reverse->keeps_history() ? " keeps a multistep history" : "", ")"));
  }
  if (r.mask.defined()) {
    bool broadcasts = r.mask.dim() == r.images.dim();
    for (int64_t d = 0; broadcasts && d < r.mask.dim(); ++d) {
      broadcasts = r.mask.size(d) == 1 || r.mask.size(d) == r.images.size(d);
    }
    if (!broadcasts || !(r.mask.ge(0) & r.mask.le(1)).all().item<bool>()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mask: want values in [0, 1] of a shape that broadcasts to the images' [",
          absl::StrJoin(r.images.sizes(), ", "), "] (each dimension equal or 1), got [",
          absl::StrJoin(r.mask.sizes(), ", "), "]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

int64_t StrengthSteps(int64_t grid_steps, double strength) {
  return std::min<int64_t>(grid_steps, std::llround(grid_steps * strength));
}

absl::StatusOr<Generated> ImageToImage(Pipeline& p, const ImageToImageRequest& r) {
  ABSL_RETURN_IF_ERROR(CheckRequest(p, r));
  const at::ScalarType type = p.config.sampler().dtype() == FLOAT64 ? at::kDouble : at::kFloat;
  const at::Tensor images = r.images.to(type);
  const at::Tensor mask = r.mask.defined() ? r.mask.to(type) : at::Tensor();
  const int64_t n = images.size(0);
  const int64_t steps = StrengthSteps(static_cast<int64_t>(p.times.size()), r.strength);
  if (steps == 0) return Generated{images.clone(), p.LabelsFor(0, n)};
  GridRestorer restore(p);
  GenerateRequest g;
  g.num = n;
  g.seed = r.seed;
  g.progress = r.progress;
  if (steps < static_cast<int64_t>(p.times.size())) {
    p.times.erase(p.times.begin(), p.times.end() - steps);
    // eps: each sample's first draw, the one the prior would make (sample i: stream i).
    PhiloxNoise noise(r.seed, 0);
    at::NoGradGuard no_grad;
    const at::Tensor eps = noise.Normal(images.sizes()).to(type);
    g.x_start = p.forward->Apply(images, Time(p.times.front()), eps);
  }
  std::map<int64_t, std::unique_ptr<PhiloxNoise>> known_noise;  // per chunk
  std::map<int64_t, std::vector<int>> jumps;  // per chunk: jumps back to each step so far
  const std::vector<double>& times = p.times;
  if (mask.defined()) {
    g.step_hook = [&](int64_t first, int64_t count, StepView& view) {
      std::unique_ptr<PhiloxNoise>& noise = known_noise[first];
      if (noise == nullptr) noise = std::make_unique<PhiloxNoise>(r.seed ^ kKnownRegionStream, first);
      if (r.resample > 1 && view.index >= r.jump && view.index % r.jump == 0) {
        std::vector<int>& done = jumps[first];
        done.resize(times.size(), 0);
        if (done[view.index] < r.resample - 1) {
          // Back up from s = times[i] to t = times[i - jump]: x_t ~ q(x_t | x_s),
          // a = alpha_t / alpha_s, variance sigma_t^2 - a^2 sigma_s^2.
          ++done[view.index];
          const GaussianCoefficients& c = *p.forward->gaussian();
          const int back = view.index - r.jump;
          const double t = times[back], s = times[view.index];
          const double a = c.Alpha(t) / c.Alpha(s);
          const double variance = c.Sigma(t) * c.Sigma(t) - a * a * c.Sigma(s) * c.Sigma(s);
          view.x_t = a * view.x_t + std::sqrt(std::max(variance, 0.0)) *
                                        noise->Normal(view.x_t.sizes()).to(view.x_t.scalar_type());
          view.jump_back_to = back;

          return;
        }
      }
      const at::Tensor x0 = images.slice(0, first, first + count);
      const at::Tensor m = mask.size(0) == 1 ? mask : mask.slice(0, first, first + count);
      const at::Tensor eps = noise->Normal(view.x_t.sizes()).to(view.x_t.scalar_type());
      const at::Tensor known = p.forward->Apply(x0, Time(view.t), eps);
      view.x_t = m * known + (1 - m) * view.x_t;
    };
  }
  ABSL_ASSIGN_OR_RETURN(Generated out, Generate(p, g));
  if (mask.defined()) out.samples = mask * images + (1 - mask) * out.samples;
  return out;
}

}  // namespace diffuse
