// A classifier of noisy states, log p(y | x_t), used by classifier guidance. Must be
// differentiable in x_t.
#ifndef DIFFUSE_MODELS_NOISY_CLASSIFIER_H_
#define DIFFUSE_MODELS_NOISY_CLASSIFIER_H_

#include <ATen/core/Tensor.h>

#include "forward/time.h"

namespace diffuse {

class NoisyClassifier {
 public:
  virtual ~NoisyClassifier() = default;
  virtual int64_t num_classes() const = 0;
  // log p(y = label | x_t) per sample: [B].
  virtual at::Tensor LogProb(const at::Tensor& x_t, const Time& t, const at::Tensor& label) = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_NOISY_CLASSIFIER_H_
