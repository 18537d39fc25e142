// What training minimizes: a training objective turns one step's data batch into a scalar
// loss (and the terms metrics.csv logs beside it). The trainer (training/trainer.h) owns
// everything else: batches, optimizer, EMA, checkpoints, progress, data parallelism.
//
// A description names its objective in training.objective; without it, the kind of
// description implies one (DefaultObjectiveName). Implementations register themselves
// (pipeline/registry.h) with a factory
//   absl::StatusOr<std::unique_ptr<TrainingObjective>>(const Options&, const TrainingComponents&)
// that checks every training option it reads and refuses the ones that do not apply to it.
//
// Every random draw of a step comes from ObjectiveStep::generator and is made for the whole
// batch (each rank keeps its slice), so that the generator's state, hence a checkpoint, does
// not depend on the number of ranks; an objective's order of draws is part of what makes a
// resumed run end with the weights of an uninterrupted one.
#ifndef DIFFUSE_TRAINING_OBJECTIVE_H_
#define DIFFUSE_TRAINING_OBJECTIVE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/description_kind.h"

namespace diffuse {

class Dataset;
class Decoder;
class Encoder;
class ForwardProcess;
class LatentPrior;
class NoiseSource;
class NoisyClassifier;
class PipelineConfig;
class TextEncoder;
class TrainedDescriptionLoader;
class X0Predictor;
struct DataBatch;

// The assembled description an objective trains (null where the description has no such
// section); the assembly layer fills it once the pipeline is built.
struct TrainingComponents {
  const PipelineConfig* config = nullptr;  // its training section holds the loss settings
  DescriptionKind kind = DescriptionKind::kDiffusion;
  Dataset* data = nullptr;
  ForwardProcess* forward = nullptr;
  X0Predictor* predictor = nullptr;
  LatentPrior* prior = nullptr;
  Encoder* encoder = nullptr;
  Decoder* decoder = nullptr;
  NoisyClassifier* classifier = nullptr;
  TextEncoder* text_encoder = nullptr;
  at::Tensor logit_scale;  // a text-image model's learned log temperature
  // The ELBO's diffusion reconstruction and denoising terms (nats per sample) of x0 under the
  // current weights, one draw of t per example from `seed` (assembly/elbo.h); empty when the
  // description is not one the ELBO reads.
  std::function<absl::StatusOr<std::pair<double, double>>(const at::Tensor& x0, uint64_t seed)>
      elbo;
  // Builds and loads other trained descriptions (a distillation teacher).
  const TrainedDescriptionLoader* trained = nullptr;
};

// One optimizer step as an objective sees it.
struct ObjectiveStep {
  const DataBatch* data = nullptr;  // the whole batch, as the dataset drew it
  at::Tensor x0;                    // this rank's examples; real-valued data in `dtype`
  at::Generator* generator = nullptr;
  NoiseSource* noise = nullptr;  // draws from *generator
  int64_t shard_begin = 0, shard_size = 0;
  at::ScalarType dtype = at::kFloat;  // training.dtype's
  int64_t step = 0;                   // optimizer steps taken before this one
  // This rank's slice of a draw made for the whole batch.
  at::Tensor Shard(const at::Tensor& full) const {
    return full.narrow(0, shard_begin, shard_size);
  }
};

struct ObjectiveValue {
  at::Tensor loss;                // the scalar the optimizer minimizes
  std::vector<at::Tensor> terms;  // scalars, the first StepTermCount() of TermNames()
};

class TrainingObjective {
 public:
  using Context = TrainingComponents;  // what factories receive (pipeline/registry.h)
  virtual ~TrainingObjective() = default;

  // Columns metrics.csv logs after "loss", unweighted: the StepTermCount() terms every step
  // returns, then the ones LoggingStepTerms evaluates.
  virtual std::vector<std::string> TermNames() const = 0;
  virtual size_t StepTermCount() const = 0;

  // Before the first step, e.g. loading the trained description a prior's x_hat comes from
  // or a teacher; after a checkpoint's identity is checked, before RestoreState or
  // InitializeWeights.
  virtual absl::Status Prepare() { return absl::OkStatus(); }
  // On a fresh start (no checkpoint), after Prepare and before the EMA copies the weights:
  // may set the network's initial weights (a student starts as its teacher).
  virtual absl::Status InitializeWeights() { return absl::OkStatus(); }
  // Tensors the objective keeps across steps (a target network, the teacher of the current
  // round) that a checkpoint holds for an exact resume, by name.
  virtual std::map<std::string, at::Tensor> State() const { return {}; }
  // Restores State() from a resumed checkpoint (DATA_LOSS naming what is missing or unfit).
  virtual absl::Status RestoreState(const std::map<std::string, at::Tensor>& state) {
    if (state.empty()) return absl::OkStatus();
    return absl::DataLossError("the checkpoint holds objective state '" + state.begin()->first +
                               "', which this objective does not keep");
  }
  // FAILED_PRECONDITION when the loss is a statistic of the whole batch that `world_size`
  // processes would each estimate on their own slice.
  virtual absl::Status CheckDataParallel(int world_size) const { return absl::OkStatus(); }
  // Whether the objective reads another trained description at every step (a checkpoint
  // then resumes only with the same one: training/description_identity.h).
  virtual bool reads_trained_prior() const { return false; }

  virtual absl::StatusOr<ObjectiveValue> Loss(const ObjectiveStep& step) = 0;

  // The terms after the step terms, evaluated at logging steps only on that step's x0 (its
  // own draws, seeded by `steps_taken`), under the updated weights.
  virtual absl::StatusOr<std::vector<double>> LoggingStepTerms(const at::Tensor& x0,
                                                               int64_t steps_taken) {
    return std::vector<double>{};
  }

  // The metrics.csv fields and the progress line's part (" (diffusion 0.0412, KL 3.1 nats)")
  // for `means`, one per TermNames() entry.
  virtual void Report(const std::vector<double>& means, std::vector<std::string>* fields,
                      std::string* line) const = 0;
};

// The objective a description without training.objective trains by its kind.
inline const char* DefaultObjectiveName(DescriptionKind kind) {
  switch (kind) {
    case DescriptionKind::kDiffusion: return "diffusion";
    case DescriptionKind::kAutoencoder: return "autoencoder_elbo";
    case DescriptionKind::kClassifier: return "noisy_classifier";
    case DescriptionKind::kTextImage: return "contrastive";
  }
  return "";
}

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_OBJECTIVE_H_
