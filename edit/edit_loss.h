// Concept: an edit loss L(x_edit, x_orig), what an edit of real images descends (edit/, the
// `edit` section of a description): x_edit is the edited x0 estimate, x_orig the unedited
// one (Asyrp's P_t with and without the shift) or the original image (DiffusionCLIP).
// E.g. DiffusionCLIP's directional loss "clip_direction".
#ifndef DIFFUSE_EDIT_EDIT_LOSS_H_
#define DIFFUSE_EDIT_EDIT_LOSS_H_

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace diffuse {

// Factories check their options against the data (BuildContext::data) when the edit is
// built.
class EditLoss {
 public:
  virtual ~EditLoss() = default;
  // Per-sample loss [B] (lower: nearer the edit's target), differentiable in x_edit; both
  // [B, ...sample_shape].
  virtual at::Tensor Loss(const at::Tensor& x_edit, const at::Tensor& x_orig) = 0;
  // The caption words an edited image should satisfy (written beside the edits, for
  // `eval`'s prompt adherence); empty when the loss names none.
  virtual std::string target_prompt() const { return ""; }
  // The class an edited image should have (written beside the edits as their labels, for
  // `eval`'s accuracy); -1 when the loss names none.
  virtual int64_t target_label() const { return -1; }
};

}  // namespace diffuse

#endif  // DIFFUSE_EDIT_EDIT_LOSS_H_
