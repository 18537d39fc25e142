// Concept: a classifier of noisy states, p(y | x_t, t), used by classifier guidance (which
// needs it differentiable in x_t). Analytic ones (the mixture oracle) are exact; trained
// ones expose their network, which `diffuse train` fits by cross-entropy on x_t drawn from
// the description's forward process (a classifier description: data, forward, classifier,
// training).
#ifndef DIFFUSE_MODELS_NOISY_CLASSIFIER_H_
#define DIFFUSE_MODELS_NOISY_CLASSIFIER_H_

#include <ATen/core/Tensor.h>

#include "forward/time.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

class NoisyClassifier {
 public:
  virtual ~NoisyClassifier() = default;
  virtual int64_t num_classes() const = 0;
  // log p(y | x_t) for every class y: [B, K], each row normalized.
  virtual at::Tensor LogProbabilities(const at::Tensor& x_t, const Time& t) = 0;
  // The trained network (optimized, averaged and checkpointed by `diffuse train`); null
  // for analytic classifiers.
  virtual torch::nn::Module* module() { return nullptr; }

  // log p(y = label | x_t) per sample: [B].
  at::Tensor LogProb(const at::Tensor& x_t, const Time& t, const at::Tensor& label) {
    return LogProbabilities(x_t, t).gather(1, label.to(at::kLong).view({-1, 1})).squeeze(1);
  }
};

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_NOISY_CLASSIFIER_H_
