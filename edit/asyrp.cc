// Asyrp (Kwon et al. 2023, "Diffusion models already have a semantic latent space"; seed
// 001): a frozen U-Net, a learned shift f_t(h) of its bottleneck h, and the asymmetric
// reverse process
//   x_{t'} = F_{t'}(x0_hat(x_t | h + s f_t(h)), F_t^{-1}(x0_hat(x_t | h), x_t))   t > t_edit,
// i.e. the x0 estimate P_t from the shifted h and the noise direction D_t from the original
// (eq. 4-6); plain DDIM down to t_edit, DDPM steps from t <= t_boost (sec. 4.2's quality boost).
// f_t is trained on the edit interval's steps with loss(P_t edited, P_t unedited) +
// reconstruction_weight |P_t edited - P_t unedited|, one optimizer step per reverse step,
// the trajectory following the edit (sec. 3.3).
#include <chrono>
#include <cmath>

#include <glog/logging.h>

#include <ATen/core/grad_mode.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "edit/editor.h"
#include "edit/h_shift.h"
#include "models/trainable_model.h"
#include "pipeline/registry.h"
#include "random/noise_source.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {
namespace {

class AsyrpEditor : public Editor {
 public:
  AsyrpEditor(EditContext context, HShift shift, std::unique_ptr<ReverseConditional> ddim,
              std::unique_ptr<ReverseConditional> ddpm)
      : Editor(std::move(context)), shift_(std::move(shift)), ddim_(std::move(ddim)),
        ddpm_(std::move(ddpm)) {}

  torch::nn::Module* learned() override { return shift_.get(); }

  // x0_hat at (x, t) with the bottleneck shifted by scale f_t(h) (scale 0: no hook).
  at::Tensor Shifted(const at::Tensor& x, double t, double scale) {
    X0Predictor& predictor = *context_.plain.predictor;
    if (scale == 0) return predictor.Predict(x, t, {}).x0;
    BottleneckHookScope hook(predictor, [this, scale](const at::Tensor& h, const Time& time) {
      return h + scale * shift_(h, time.shared() / context_.t_max);
    });
    return predictor.Predict(x, t, {}).x0;
  }

  bool Edits(double t) const { return t > context_.options.edit_until() * context_.t_max; }

  absl::Status Learn(const at::Tensor& images, std::ostream* progress) override {
    const EditOptions& o = context_.options;
    if (!Edits(context_.times[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "edit.edit_until = ", o.edit_until(), " leaves no edited step to learn from (the first "
          "is at t = ", context_.times[0], " of t_max ", context_.t_max,
          "; the shift acts from t > edit_until t_max)"));
    }
    TrainableModel* model = context_.plain.predictor->trainable();
    RequiresGradScope frozen(model != nullptr ? model->module().parameters() : std::vector<at::Tensor>(),
                             false);
    torch::optim::Adam optimizer(shift_->parameters(), torch::optim::AdamOptions(o.learning_rate()));
    at::Generator generator = at::detail::createCPUGenerator(o.seed());
    const int64_t n = images.size(0), batch = o.batch_size();
    const auto begin = std::chrono::steady_clock::now();
    int64_t done = 0;
    for (int epoch = 0; epoch < o.epochs(); ++epoch) {
      const at::Tensor order = torch::randperm(n, generator, torch::kLong);
      for (int64_t i = 0; i < n; i += batch) {
        const at::Tensor x0 = images.index_select(0, order.slice(0, i, i + batch));
        at::Tensor x;
        {
          at::NoGradGuard no_grad;
          x = context_.Invert(x0);
        }
        double loss_sum = 0, direction_sum = 0;
        int steps = 0;
        for (size_t k = 0; k < context_.times.size() && Edits(context_.times[k]); ++k) {
          const double t = context_.times[k];
          const double t_prev = k + 1 < context_.times.size() ? context_.times[k + 1] : 0.0;
          at::Tensor x0_orig;
          {
            at::NoGradGuard no_grad;
            x0_orig = context_.plain.predictor->Predict(x, t, {}).x0;
          }
          const at::Tensor x0_edit = Shifted(x, t, 1.0);
          const auto [loss, direction] = context_.Evaluate(x0_edit, x0_orig);
          if (!std::isfinite(loss.item<double>())) {
            return absl::InvalidArgumentError(absl::StrCat(
                "edit: the loss is ", loss.item<double>(), " at t = ", t, " (epoch ", epoch + 1,
                "); lower edit.learning_rate"));
          }
          optimizer.zero_grad();
          loss.backward();
          optimizer.step();
          loss_sum += loss.item<double>();
          direction_sum += direction.item<double>();
          ++steps;
          at::NoGradGuard no_grad;
          x = context_.Step(x, t, t_prev, x0_orig, x0_edit.detach());
        }
        done += x0.size(0);
        if (progress != nullptr) {
          const double seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
          const double total = static_cast<double>(n) * o.epochs();
          *progress << absl::StrFormat(
              "edit asyrp: epoch %d  images %d/%d  loss %.4f  direction %.4f  %.1f images/s  "
              "ETA %.0f s\n",
              epoch + 1, done, static_cast<int64_t>(total), loss_sum / std::max(steps, 1),
              direction_sum / std::max(steps, 1), done / seconds, (total - done) * seconds / done);
        }
      }
    }
    return absl::OkStatus();
  }

  at::Tensor Apply(const at::Tensor& images, int64_t first_index, std::ostream* progress) override {
    return Run(images, first_index, context_.options.shift_scale(), progress);
  }

  at::Tensor Reconstruct(const at::Tensor& images, int64_t first_index) override {
    return Run(images, first_index, 0.0, nullptr);
  }

  at::Tensor Run(const at::Tensor& images, int64_t first_index, double scale,
                 std::ostream* progress) {
    at::NoGradGuard no_grad;
    const int64_t chunk = context_.pipeline->config.sampler().batch_size();
    std::vector<at::Tensor> parts;
    for (int64_t i = 0; i < images.size(0); i += chunk) {
      const at::Tensor x0 = images.slice(0, i, i + chunk);
      parts.push_back(Sample(context_.Invert(x0), first_index + i, scale));
      if (progress != nullptr) {
        *progress << "edit asyrp: " << i + x0.size(0) << "/" << images.size(0) << " images\n";
      }
    }
    return torch::cat(parts);
  }

  // The three phases from x_start (sample i of the batch draws stream (seed, first + i)).
  at::Tensor Sample(at::Tensor x, int64_t first, double scale) {
    PhiloxNoise noise(context_.options.seed(), first);
    const std::vector<double>& times = context_.times;
    const int n = times.size();
    for (int k = 0; k < n; ++k) {
      const double t = times[k], t_prev = k + 1 < n ? times[k + 1] : 0.0;
      noise.BeginStep(k);
      const at::Tensor x0_orig = context_.plain.predictor->Predict(x, t, {}).x0;
      if (Edits(t)) {
        x = context_.Step(x, t, t_prev, x0_orig, Shifted(x, t, scale));
        continue;
      }
      const bool boost = t <= context_.options.boost_below() * context_.t_max;
      ReverseStep step{context_.plain.forward, t, t_prev, k, n, &noise, nullptr};
      x = (boost ? ddpm_ : ddim_)->Step(step, x, {x0_orig, at::Tensor()});
    }
    return x;
  }

 private:
  HShift shift_;
  std::unique_ptr<ReverseConditional> ddim_, ddpm_;
};

}  // namespace

std::unique_ptr<Editor> MakeAsyrpEditor(EditContext context) {
  // The bottleneck's channels, read off one prediction.
  int64_t channels = 0;
  {
    BottleneckHookScope hook(*context.plain.predictor, [&](const at::Tensor& h, const Time&) {
      channels = h.size(1);
      return h;
    });
    at::NoGradGuard no_grad;
    std::vector<int64_t> shape = context.pipeline->data->sample_shape();
    shape.insert(shape.begin(), 1);
    context.plain.predictor->Predict(torch::zeros(shape, context.dtype), context.t_max, {});
  }
  // f_t's initialization draws from edit.seed, leaving the global generator as it was.
  at::Generator global = at::detail::getDefaultCPUGenerator();
  const at::Tensor state = global.get_state();
  at::manual_seed(context.options.seed());
  HShift shift(channels, context.options.shift_channels());
  global.set_state(state);
  shift->to(context.dtype);
  BuildContext build;
  build.config = &context.pipeline->config;
  build.data = context.pipeline->data.get();
  build.forward = context.plain.forward;
  ComponentSpec ddim, ddpm;
  ddim.set_name("substitution");
  ddpm.set_name("partial_substitution");  // eta = 1 by default
  auto a = Registry<ReverseConditional>::Global().Create(ddim, "edit", build);
  auto b = Registry<ReverseConditional>::Global().Create(ddpm, "edit", build);
  CHECK(a.ok() && b.ok()) << "the toolkit's DDIM and DDPM steps are registered";
  return std::make_unique<AsyrpEditor>(std::move(context), std::move(shift), *std::move(a),
                                       *std::move(b));
}

}  // namespace diffuse
