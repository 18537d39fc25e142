// What the distillation objectives share: loading a frozen teacher, starting a student at
// its weights, evaluating a network at other weights (a target network, an earlier round's
// teacher), and one step of a registered ODE solver with a time per example.
#ifndef DIFFUSE_TRAINING_DISTILLATION_H_
#define DIFFUSE_TRAINING_DISTILLATION_H_

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "pipeline/trained_description.h"
#include "training/objective.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

class ForwardProcess;
class NoiseSource;
class ReverseConditional;
class X0Predictor;

// The teacher named by `checkpoint` (a trained diffusion description) or, when it is empty,
// by `pipeline_file` (an analytic description without weights). It must model samples of
// the student's shape under the same forward process. Errors start with `field`.
absl::StatusOr<std::unique_ptr<TrainedDescription>> LoadTeacher(const TrainingComponents& c,
                                                                 const std::string& checkpoint,
                                                                 const std::string& pipeline_file,
                                                                 const std::string& field);

// OK when the description trains an unconditional, real-valued, trainable predictor with a
// forward process and no offset, encoder or text encoder: what the distillation objectives
// (`what`) are built for. FAILED_PRECONDITION otherwise.
absl::Status CheckUnconditionalStudent(const TrainingComponents& c, const std::string& what);

// Copies `from`'s parameters and buffers into `to`'s (same names and shapes, else
// FAILED_PRECONDITION naming the first that differs), in `to`'s dtype.
absl::Status CopyWeights(torch::nn::Module& from, torch::nn::Module& to, const std::string& what);

// Copies of a module's parameters, in parameters() order.
std::vector<at::Tensor> CloneParameters(torch::nn::Module& module);

// While alive, `module`'s parameters hold `weights` (no copy: set_data); the module's own
// tensors come back when it ends. Use under at::NoGradGuard.
class ScopedWeights {
 public:
  ScopedWeights(torch::nn::Module& module, const std::vector<at::Tensor>& weights);
  ~ScopedWeights();
  ScopedWeights(const ScopedWeights&) = delete;
  ScopedWeights& operator=(const ScopedWeights&) = delete;

 private:
  std::vector<at::Tensor> params_, own_;
};

// One step of `solver` with `predictor` (no gradient, no condition) for each example i of
// x from times[from[i]] to times[from[i] - 1] (`from` int64 [B], entries >= 1): the examples
// of one interval are stepped together, each interval as a fresh one-step run, in the
// predictor's dtype. The step must be deterministic (an ODE step): FAILED_PRECONDITION when
// the solver draws noise (churn, eta > 0), which would desynchronize the training
// generator across ranks and resumes.
absl::StatusOr<at::Tensor> SolverStepPerExample(ReverseConditional& solver,
                                                X0Predictor& predictor,
                                                const ForwardProcess& forward,
                                                const at::Tensor& x, const at::Tensor& from,
                                                const std::vector<double>& times,
                                                at::ScalarType predictor_dtype);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_DISTILLATION_H_
