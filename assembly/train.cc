#include "assembly/train.h"

#include <utility>

#include "assembly/elbo.h"
#include "assembly/trained_loader.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {

TrainingComponents TrainingComponentsOf(Pipeline& p) {
  TrainingComponents c;
  c.config = &p.config;
  c.kind = p.kind;
  c.data = p.data.get();
  c.forward = p.forward.get();
  c.predictor = p.predictor.get();
  c.prior = p.prior.get();
  c.encoder = p.encoder.get();
  c.decoder = p.decoder.get();
  c.classifier = p.classifier.get();
  c.text_encoder = p.text_encoder.get();
  c.logit_scale = p.logit_scale;
  c.trained = &PipelineLoader();
  if (CheckElbo(p).ok()) {
    c.elbo = [&p](const at::Tensor& x0,
                  uint64_t seed) -> absl::StatusOr<std::pair<double, double>> {
      ABSL_ASSIGN_OR_RETURN(ElboTerms terms, EstimateElbo(p, x0, 1, seed));
      return std::make_pair(terms.reconstruction, terms.denoising);
    };
  }
  return c;
}

absl::StatusOr<std::unique_ptr<TrainingObjective>> BuildObjective(Pipeline& p) {
  ABSL_RETURN_IF_ERROR(CheckTrainingOptions(p.config));
  const TrainingOptions& o = p.config.training();
  if (o.has_objective()) {
    return Registry<TrainingObjective>::Global().Create(o.objective(), "training.objective",
                                                        TrainingComponentsOf(p));
  }
  // The implied objective: its errors name the training fields it reads.
  ComponentSpec implied;
  implied.set_name(DefaultObjectiveName(p.kind));
  return Registry<TrainingObjective>::Global().Create(implied, "training", TrainingComponentsOf(p));
}

absl::StatusOr<TrainingSummary> Train(Pipeline& p, const std::string& out_dir,
                                      std::ostream* progress) {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<TrainingObjective> objective, BuildObjective(p));
  if (p.trained_module() == nullptr) {
    return absl::FailedPreconditionError("the description has no network to train");
  }
  TrainingRun run;
  run.config = &p.config;
  run.module = p.trained_module();
  run.data = p.data.get();
  run.objective = objective.get();
  return Train(run, out_dir, progress);
}

}  // namespace diffuse
