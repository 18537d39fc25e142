// Editing real images with a trained diffusion model: the `edit` section of a description
// (EditOptions in pipeline/pipeline.proto), run by `diffuse edit`. An Editor learns an edit
// from training images (Learn), then edits other images (Apply); every method inverts an
// image x0 by DDIM to x_start at edit.start_time and regenerates it over edit.num_steps
// steps (edit/asyrp.cc, edit/diffusion_clip.cc).
#ifndef DIFFUSE_EDIT_EDITOR_H_
#define DIFFUSE_EDIT_EDITOR_H_

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "assembly/builder.h"
#include "edit/edit_loss.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

// What every method reads; built and checked once by BuildEditor.
struct EditContext {
  Pipeline* pipeline = nullptr;
  EditOptions options;
  std::unique_ptr<EditLoss> loss;
  // The predictor alone (no guidance, no clamp): inversion and the edit's own steps.
  SamplingComponents plain;
  std::vector<double> inversion_times;  // descending, inversion_times[0] = start
  std::vector<double> times;            // the edit's reverse steps, times[0] = start
  double t_max = 1;
  // sampler.dtype: the predictor's weights, the images and Asyrp's f_t are in this type.
  at::ScalarType dtype = at::kFloat;

  // x_start [N, ...] of images x0 [N, ...] (DDIM inversion, sampler.batch_size chunks).
  at::Tensor Invert(const at::Tensor& x0) const;
  // One deterministic step from x at t to t_prev with the x0 estimate x0_edit and the noise
  // direction of x0_orig: F_{t_prev}(x0_edit, F_t^{-1}(x0_orig, x)) (DDIM when they are
  // equal; Asyrp's asymmetric step when not); x0_edit at t_prev = 0.
  at::Tensor Step(const at::Tensor& x, double t, double t_prev, const at::Tensor& x0_orig,
                  const at::Tensor& x0_edit) const;
  // The edit's deterministic chain from x_start down to 0 (differentiable in x_start and
  // the predictor's weights when autograd is on).
  at::Tensor Regenerate(const at::Tensor& x_start) const;
  // What an optimizer step descends: total = edit + reconstruction_weight * mean
  // |x_edit - x_orig|, edit = loss(x_edit, x_orig).mean() (reported beside it).
  struct Objective {
    at::Tensor total, edit;
  };
  Objective Evaluate(const at::Tensor& x_edit, const at::Tensor& x_orig) const;
};

// Sets `weights`' requires_grad to `value` for its lifetime, then back to what each was.
class RequiresGradScope {
 public:
  RequiresGradScope(std::vector<at::Tensor> weights, bool value);
  ~RequiresGradScope();

 private:
  std::vector<at::Tensor> weights_;
  std::vector<bool> before_;
};

// A bottleneck hook installed on `predictor` for its lifetime (removed however the scope
// ends).
class BottleneckHookScope {
 public:
  BottleneckHookScope(X0Predictor& predictor, BottleneckHook hook);
  ~BottleneckHookScope();

 private:
  X0Predictor& predictor_;
};

class Editor {
 public:
  virtual ~Editor() = default;
  // Learns the edit from training images [N, ...sample_shape] (ASYRP: f_t; FINETUNE_MODEL:
  // the model's weights; OPTIMIZE_NOISE: nothing, it optimizes per image in Apply).
  // `progress`: a line per batch. A non-finite loss stops it with INVALID_ARGUMENT.
  virtual absl::Status Learn(const at::Tensor& images, std::ostream* progress) = 0;
  // The edits of images [N, ...]; image i's stochastic steps draw Philox stream
  // (edit.seed, first_index + i).
  virtual at::Tensor Apply(const at::Tensor& images, int64_t first_index,
                           std::ostream* progress) = 0;
  // The same chain without the edit (the baseline an edit's identity is measured against):
  // Asyrp's sampler with shift_scale 0; DiffusionCLIP's DDIM round trip with the original
  // weights.
  virtual at::Tensor Reconstruct(const at::Tensor& images, int64_t first_index) = 0;
  // What Learn learns, for saving and loading (null: nothing to keep).
  virtual torch::nn::Module* learned() = 0;
  EditContext& context() { return context_; }

 protected:
  explicit Editor(EditContext context) : context_(std::move(context)) {}
  EditContext context_;
};

// Checks the edit section against the pipeline (which must have its trained weights
// loaded before this call: DiffusionCLIP keeps a copy of them to invert with) and builds its
// editor, converting the predictor's weights to sampler.dtype. Errors name the field, e.g.
// "edit.edit_until = 0.9 must be <= edit.start_time = 0.5".
absl::StatusOr<std::unique_ptr<Editor>> BuildEditor(Pipeline& pipeline);

// The methods (BuildEditor picks one by edit.method).
std::unique_ptr<Editor> MakeAsyrpEditor(EditContext context);
std::unique_ptr<Editor> MakeDiffusionClipEditor(EditContext context);

// Saves / loads an editor's learned module (atomic write; errors name the file; a file of
// other shapes or types, e.g. a shift learned for another U-Net, is refused by name).
absl::Status SaveLearned(Editor& editor, const std::string& path);
absl::Status LoadLearned(Editor& editor, const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_EDIT_EDITOR_H_
