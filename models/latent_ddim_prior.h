// Prior "latent_ddim" (latent_ddim_prior.proto): z_sem from a diffusion model of the
// normalized semantic codes, x_T ~ N(0, I).
#ifndef DIFFUSE_MODELS_LATENT_DDIM_PRIOR_H_
#define DIFFUSE_MODELS_LATENT_DDIM_PRIOR_H_

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "models/latent_ddim_prior.pb.h"
#include "pipeline/pipeline.pb.h"

namespace diffuse {

// dir/latents.npy, dir/latent_stats.npy.
std::string LatentsPath(const std::string& dir);
std::string LatentStatsPath(const std::string& dir);
// dir/latent_source.txt: which checkpoint the codes were encoded with (its CRC-32 and size).
std::string LatentSourcePath(const std::string& dir);

// Records `checkpoint` as the source of dir's codes.
absl::Status RecordLatentSource(const std::string& dir, const std::string& checkpoint);
// OK when dir's codes were encoded with `checkpoint` (or no source is recorded: codes of an
// older release); FAILED_PRECONDITION naming both otherwise: a model of the codes of another
// state of the autoencoder would train on, or sample, the wrong z.
absl::Status CheckLatentSource(const std::string& dir, const std::string& checkpoint);

// The second stage's training set: codes z [N, D] normalized per dimension, written to
// dir/latents.npy (dir created if missing) in the shape the prior models them in,
// [N, ...latent_shape] (LatentPrior::latent_shape), with their mean and std (clamped at
// 1e-8; [2, D]) in dir/latent_stats.npy, which the prior uses to map its samples back.
// Returns the std for the progress line.
absl::StatusOr<at::Tensor> WriteNormalizedLatents(const at::Tensor& z,
                                                  const std::vector<int64_t>& latent_shape,
                                                  const std::string& dir);

// The description of the model of z: the options' pipeline with its data section set to
// "tensor_file" on dir/latents.npy. INVALID_ARGUMENT names what the options lack.
absl::StatusOr<PipelineConfig> LatentModelDescription(const LatentDdimPriorOptions& options);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_LATENT_DDIM_PRIOR_H_
