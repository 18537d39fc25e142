// Which parts of a pipeline description a checkpoint is bound to, and the first difference
// between the description a checkpoint was trained from and the one it is used with.
#ifndef DIFFUSE_TRAINING_DESCRIPTION_IDENTITY_H_
#define DIFFUSE_TRAINING_DESCRIPTION_IDENTITY_H_

#include <string>

#include "absl/status/status.h"
#include "pipeline/pipeline.pb.h"

namespace diffuse {

enum class CheckpointUse {
  // Continuing training: everything but the sampling sections (sampler, prior: a two-stage
  // model sets its prior after the first stage) and the step counts (steps, log_every,
  // checkpoint_every).
  kResume,
  // Continuing a training whose examples depend on the prior (DiffuseVAE: the prior's VAE
  // supplies each x_hat): kResume with the prior section bound too.
  kResumeWithTrainingPrior,
  // Sampling, encoding, exporting: what the weights mean, i.e. the data kind, the forward
  // process, the predictor and the encoder. Reverse process, sampler, guidance and training
  // options are free to differ.
  kWeights,
};

// "" when `trained` (the checkpoint's) and `used` agree on what `use` binds; otherwise one
// line naming the first differing field with both values, e.g.
// "predictor.options.[type.googleapis.com/diffuse.UNetOptions].base_channels: 32 in the
// checkpoint, 64 here".
std::string DescriptionDifference(const PipelineConfig& trained, const PipelineConfig& used,
                                  CheckpointUse use);

// OK when the description `trained_text` (text format, as a checkpoint stores it) agrees
// with `used`; otherwise FAILED_PRECONDITION "checkpoint PATH was trained from another
// description: <difference>", and DATA_LOSS when the stored text does not parse.
absl::Status CheckTrainedFrom(const std::string& path, const std::string& trained_text,
                              const PipelineConfig& used, CheckpointUse use);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_DESCRIPTION_IDENTITY_H_
