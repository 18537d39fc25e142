// A differentiable loss of the x0 prediction, L(x0_hat) per sample, that guidance "loss"
// descends (a Universal-guidance-style term: Bansal et al. 2023; classifier and CLIP
// guidance are the losses -log p(y | x0_hat) and -cos(E_img(x0_hat), E_text(prompt))).
#ifndef DIFFUSE_GUIDANCE_GUIDANCE_LOSS_H_
#define DIFFUSE_GUIDANCE_GUIDANCE_LOSS_H_

#include <ATen/core/Tensor.h>

#include "guidance/guidance_term.h"

namespace diffuse {

// Factories check their options against the data (BuildContext::data) when the pipeline is
// built.
class GuidanceLoss {
 public:
  virtual ~GuidanceLoss() = default;
  // Conditions the loss reads itself (e.g. the classes it steers toward).
  virtual ConditionSupport conditions() const { return {}; }
  // L(x0_hat) per sample [B], differentiable in x0_hat [B, ...]; `in` gives the time and
  // the condition (labels) of the batch.
  virtual at::Tensor Loss(const at::Tensor& x0_hat, const GuidanceInput& in) = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_GUIDANCE_GUIDANCE_LOSS_H_
