// Concept 5: a guidance term. It modifies the x0 prediction during sampling; several can be
// stacked (each receives the previous one's output). Terms may call the predictor again
// (classifier-free guidance) or take gradients through it or a classifier (autograd is
// enabled inside Guide even though sampling runs without it).
#ifndef DIFFUSE_GUIDANCE_GUIDANCE_TERM_H_
#define DIFFUSE_GUIDANCE_GUIDANCE_TERM_H_

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "forward/forward_process.h"
#include "models/x0_predictor.h"

namespace diffuse {

struct GuidanceInput {
  X0Predictor* predictor = nullptr;
  const ForwardProcess* forward = nullptr;
  at::Tensor x_t;
  Time t{0.0};
  Condition condition;
};

class GuidanceTerm {
 public:
  virtual ~GuidanceTerm() = default;
  // Checked once by the pipeline builder.
  virtual absl::Status CheckCompatible(const ForwardProcess& forward,
                                       const X0Predictor& predictor) const = 0;
  // Conditions this term consumes itself (e.g. the classes a classifier steers toward),
  // beyond those the predictor accepts.
  virtual ConditionSupport conditions() const { return {}; }
  // Returns the guided prediction.
  virtual X0Prediction Guide(const GuidanceInput& input, X0Prediction x0_hat) = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_GUIDANCE_GUIDANCE_TERM_H_
