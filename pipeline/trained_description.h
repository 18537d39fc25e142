// A description trained by `diffuse train` and read, frozen, by a component of another one:
// the VAE whose decoder starts DiffuseVAE and ES-DDPM, the model of z of Diffusion
// Autoencoders and latent diffusion, a noisy classifier for guidance, a text-image model for
// CLIP guidance and text conditioning.
//
// Components reach such descriptions only through the loader BuildContext carries
// (BuildContext::trained). The assembly layer implements it (assembly/trained_loader.h), so
// no component depends on the builder, the trainer or the sampling loop, and a test can hand
// a component a loader of its own.
#ifndef DIFFUSE_PIPELINE_TRAINED_DESCRIPTION_H_
#define DIFFUSE_PIPELINE_TRAINED_DESCRIPTION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "pipeline/build_context.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

class Decoder;
class Encoder;
class ForwardProcess;
class LatentPrior;
class NoiseSource;
class NoisyClassifier;
class PipelineConfig;
class TextEncoder;
class X0Predictor;

// The checkpoint file `diffuse train` keeps in its output directory.
inline std::string CheckpointPath(const std::string& out_dir) {
  return out_dir + "/checkpoint.pt";
}

class TrainedDescription {
 public:
  virtual ~TrainedDescription() = default;

  virtual const PipelineConfig& config() const = 0;
  // The shape of one sample of its data: what it models, classifies or embeds.
  virtual std::vector<int64_t> sample_shape() const = 0;

  // Its components; null where the description has none.
  virtual const ForwardProcess* forward() const = 0;
  virtual X0Predictor* predictor() = 0;
  virtual LatentPrior* prior() = 0;
  virtual Encoder* encoder() = 0;
  virtual Decoder* decoder() = 0;
  virtual NoisyClassifier* classifier() = 0;
  virtual TextEncoder* text_encoder() = 0;
  // The module its checkpoint's weights go into; null for analytic descriptions.
  virtual torch::nn::Module* trained_module() = 0;

  // `batch` samples of a diffusion description, each `shape`: a start from its prior, then
  // its sampler over its grid, all drawn on `noise`'s per-sample streams.
  virtual at::Tensor Sample(int64_t batch, const std::vector<int64_t>& shape,
                            NoiseSource& noise) = 0;
};

class TrainedDescriptionLoader {
 public:
  virtual ~TrainedDescriptionLoader() = default;

  // Parses a text-format description file; errors read "PATH:line:column: message".
  virtual absl::StatusOr<PipelineConfig> ReadDescriptionFile(const std::string& path) const = 0;

  // Builds and checks `config`, without weights.
  virtual absl::StatusOr<std::unique_ptr<TrainedDescription>> Build(
      const PipelineConfig& config) const = 0;

  // Loads the EMA weights of `checkpoint` into `trained`'s module, after checking that the
  // checkpoint was trained from a compatible description.
  // `trained` comes from this loader's Build.
  virtual absl::Status LoadWeights(TrainedDescription& trained,
                                   const std::string& checkpoint) const = 0;

  // Parses the description stored in `checkpoint` (DATA_LOSS if it does not parse), passes it
  // to `accept` (which refuses other kinds of description with its own error), builds it and
  // loads its EMA weights. Errors start with "checkpoint PATH".
  virtual absl::StatusOr<std::unique_ptr<TrainedDescription>> LoadCheckpoint(
      const std::string& checkpoint,
      const std::function<absl::Status(const PipelineConfig&)>& accept) const = 0;

  // That `trained` (from `checkpoint`) reads what the description being built (`context`)
  // makes: samples of the same shape and, when it has a forward process, x_t of the same one
  // (truncation aside). FAILED_PRECONDITION otherwise, e.g. "checkpoint PATH classifies x_t
  // of another forward process: forward.options...", with `verb` ("classifies", "embeds").
  virtual absl::Status CheckReadsThisDescription(const std::string& checkpoint,
                                                 const std::string& verb,
                                                 const TrainedDescription& trained,
                                                 const BuildContext& context) const = 0;
};

// context.trained; FAILED_PRECONDITION when the description is built without a loader (a
// component built alone, outside BuildPipeline).
inline absl::StatusOr<const TrainedDescriptionLoader*> TrainedLoader(const BuildContext& context) {
  if (context.trained != nullptr) return context.trained;
  return absl::FailedPreconditionError(
      "reads a trained description, but this build has no loader for one (BuildContext.trained)");
}

}  // namespace diffuse

#endif  // DIFFUSE_PIPELINE_TRAINED_DESCRIPTION_H_
