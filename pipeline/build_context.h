// What a component factory may look at while a pipeline is built: the whole description
// and the components built before it (data, then forward, predictor, prior, reverse,
// guidance).
#ifndef DIFFUSE_PIPELINE_BUILD_CONTEXT_H_
#define DIFFUSE_PIPELINE_BUILD_CONTEXT_H_

namespace diffuse {

class Dataset;
class Encoder;
class ForwardProcess;
class PipelineConfig;
class TrainedDescriptionLoader;
class X0Predictor;

struct BuildContext {
  const PipelineConfig* config = nullptr;
  Dataset* data = nullptr;  // non-const: a component may draw from it (e.g. a prior fit)
  const ForwardProcess* forward = nullptr;
  const X0Predictor* predictor = nullptr;
  // An autoencoder's q(z | x0), built before its prior (a model of z; latent diffusion);
  // an autoencoder has no forward process or predictor (both null).
  const Encoder* encoder = nullptr;
  // Builds and loads other trained descriptions a component reads (a VAE, a model of z, a
  // noisy classifier, a text-image model); set by the builder.
  const TrainedDescriptionLoader* trained = nullptr;
};

}  // namespace diffuse

#endif  // DIFFUSE_PIPELINE_BUILD_CONTEXT_H_
