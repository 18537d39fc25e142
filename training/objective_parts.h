// The pieces training objectives share: corrupting a batch with the forward process,
// drawing captions, encoding z with the latent regularizers, and the checks on the training
// options they read. Each draws from the step's generator in the order written here.
#ifndef DIFFUSE_TRAINING_OBJECTIVE_PARTS_H_
#define DIFFUSE_TRAINING_OBJECTIVE_PARTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/mmd.h"
#include "models/trainable_model.h"
#include "pipeline/pipeline.pb.h"
#include "training/objective.h"

namespace diffuse {

// x_t = F_t(x0, eps): t ~ U{1..T} (or 1 - U[0, 1)), then eps ~ the process's noise, then,
// with num_classes > 0, the labels, each replaced by the null label with probability
// `label_dropout` (one uniform per example when it is > 0). With `image_source` (DiffuseVAE),
// each example is conditioned on the prior's x_hat, and a forward with an offset ("shifted")
// diffuses around it: x_t = x_hat + F_t(x0 - x_hat, eps).
TrainingExample Corrupt(const ObjectiveStep& step, const ForwardProcess& forward,
                        int64_t num_classes, double label_dropout, LatentPrior* image_source);

// This rank's captions, each word dropped with probability `word_dropout` (drawn for the
// whole batch), and their tokens.
struct CaptionDraw {
  std::vector<std::string> text;
  std::vector<std::vector<int64_t>> tokens;
};
CaptionDraw DrawCaptions(const ObjectiveStep& step, const Dataset& data,
                         const TextEncoder& encoder, double word_dropout);

// The latent regularizers' coefficients, from training.latent_kl_weight or
// training.info_diffusion, and which of their terms are logged.
struct LatentRegularizer {
  double kl = 0;   // on E KL(q(z | x0) || N(0, I)) (nats per sample)
  double mmd = 0;  // on MMD^2(q(z), N(0, I)) over the batch
  MmdKernel kernel = MmdKernel::kInverseMultiquadric;
  bool log_kl = false;  // a Gaussian encoder's KL
  bool log_mmd() const { return mmd > 0; }
};
// Checks latent_kl_weight and info_diffusion against `encoder` (may be null) and returns
// their coefficients; INVALID_ARGUMENT names the field.
absl::StatusOr<LatentRegularizer> LatentRegularizerOf(const PipelineConfig& config,
                                                      const Encoder* encoder);
// FAILED_PRECONDITION when the MMD term would be estimated per rank.
absl::Status CheckLatentDataParallel(const LatentRegularizer& regularizer, int world_size);

// z = E(x0): q(z | x0), then for a Gaussian q eps_z (reparameterization) and its KL, then
// with the MMD term as many draws of N(0, I) and MMD^2; kl and mmd are undefined when off.
struct LatentDraw {
  at::Tensor z, kl, mmd;
};
LatentDraw EncodeLatent(const ObjectiveStep& step, Encoder& encoder, const at::Tensor& x0,
                        const Time& t, const LatentRegularizer& regularizer);

// The regularized loss, main + kl * mean KL + mmd * MMD^2, and the logged terms after
// `main_terms`: latent_kl and latent_mmd where logged.
at::Tensor AddLatentTerms(const at::Tensor& main, const LatentDraw& draw,
                          const LatentRegularizer& regularizer, std::vector<at::Tensor>* terms);
void AddLatentTermNames(const LatentRegularizer& regularizer, std::vector<std::string>* names);
// Their metrics.csv fields and progress text, reading means from `*index` on.
void ReportLatentTerms(const LatentRegularizer& regularizer, const std::vector<double>& means,
                       size_t* index, std::vector<std::string>* fields, std::string* line);

// For objectives without a diffusion loss: INVALID_ARGUMENT "training.loss_weighting W
// weights a diffusion loss; <why> (PLAIN)" unless loss_weighting is PLAIN.
absl::Status RefuseLossWeighting(const TrainingOptions& options, const std::string& why);

// A batch accuracy's metrics.csv field and progress text.
void ReportAccuracy(double accuracy, std::vector<std::string>* fields, std::string* line);

}  // namespace diffuse

#endif  // DIFFUSE_TRAINING_OBJECTIVE_PARTS_H_
