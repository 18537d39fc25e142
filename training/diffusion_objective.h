// The "diffusion" objective: the predictor's own per-sample loss on x_t = F_t(x0, eps)
// (TrainableModel::Loss, in its parameterization), weighted by training.loss_weighting, plus
// with an encoder the seed's latent terms (training.latent_kl_weight or info_diffusion).
#ifndef DIFFUSE_TRAINING_DIFFUSION_OBJECTIVE_H_
#define DIFFUSE_TRAINING_DIFFUSION_OBJECTIVE_H_

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "forward/forward_process.h"
#include "models/trainable_model.h"
#include "pipeline/pipeline.pb.h"

namespace diffuse {

// Per-sample loss weights [B] (float32) at times t: training.loss_weighting's weight on the
// squared x0 error divided by the model's TrainableModel::X0LossScale; ones for PLAIN.
// MIN_SNR and UDM read `forward`'s Gaussian coefficients.
at::Tensor LossWeights(const TrainingOptions& options, const ForwardProcess& forward,
                       TrainableModel& model, const Time& t, int64_t batch);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_DIFFUSION_OBJECTIVE_H_
