// Trains a built pipeline: the objective its description names in training.objective (or
// the one its kind implies, training/objective.h), in training/trainer.h's loop.
#ifndef DIFFUSE_ASSEMBLY_TRAIN_H_
#define DIFFUSE_ASSEMBLY_TRAIN_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "assembly/builder.h"
#include "training/objective.h"
#include "training/trainer.h"

namespace diffuse {

// The components `p`'s objective reads, with the ELBO (assembly/elbo.h) where it applies.
TrainingComponents TrainingComponentsOf(Pipeline& p);

// The objective of `p`'s description, built and checked against it; errors name the
// training field at fault.
absl::StatusOr<std::unique_ptr<TrainingObjective>> BuildObjective(Pipeline& p);

// Trains `p` into `out_dir` (training/trainer.h's Train: checkpoint.pt, metrics.csv,
// resume, signals, data parallelism); `p`'s network then holds the EMA weights.
absl::StatusOr<TrainingSummary> Train(Pipeline& p, const std::string& out_dir,
                                      std::ostream* progress);

}  // namespace diffuse

#endif  // DIFFUSE_ASSEMBLY_TRAIN_H_
