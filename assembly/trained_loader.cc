#include "assembly/trained_loader.h"

#include <memory>
#include <vector>


#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "assembly/builder.h"
#include "data/dataset.h"
#include "models/module_ops.h"
#include "reverse/sampler.h"
#include "training/checkpoint.h"
#include "training/description_identity.h"
#include "util/status_macros.h"

namespace diffuse {

absl::Status LoadWeightsForSampling(Pipeline& p, const std::string& checkpoint) {
  if (p.trained_module() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "predictor '", p.config.predictor().name(), "' has no weights to load from ",
        checkpoint));
  }
  TrainingState state;
  torch::nn::Module& module = *p.trained_module();
  ABSL_RETURN_IF_ERROR(LoadCheckpoint(checkpoint, module, nullptr, &state));
  ABSL_RETURN_IF_ERROR(
      CheckTrainedFrom(checkpoint, state.pipeline_text, p.config, CheckpointUse::kWeights));
  UseEmaWeights(module, state.ema);
  SetEvalMode(module);
  return absl::OkStatus();
}

namespace {

class BuiltDescription : public TrainedDescription {
 public:
  explicit BuiltDescription(std::unique_ptr<Pipeline> p) : p_(std::move(p)) {}

  Pipeline& pipeline() { return *p_; }
  const Pipeline& pipeline() const { return *p_; }

  const PipelineConfig& config() const override { return p_->config; }
  std::vector<int64_t> sample_shape() const override { return p_->data->sample_shape(); }
  const ForwardProcess* forward() const override { return p_->forward.get(); }
  X0Predictor* predictor() override { return p_->predictor.get(); }
  LatentPrior* prior() override { return p_->prior.get(); }
  Encoder* encoder() override { return p_->encoder.get(); }
  Decoder* decoder() override { return p_->decoder.get(); }
  NoisyClassifier* classifier() override { return p_->classifier.get(); }
  TextEncoder* text_encoder() override { return p_->text_encoder.get(); }
  torch::nn::Module* trained_module() override { return p_->trained_module(); }

  at::Tensor Sample(int64_t batch, const std::vector<int64_t>& shape,
                    NoiseSource& noise) override {
    TORCH_CHECK(p_->prior != nullptr && p_->reverse != nullptr,
                "a trained description without a prior and a reverse process cannot sample");
    PriorSample start = p_->prior->Sample(batch, shape, noise);
    return RunReverseProcess(p_->sampling(), start.x_start, p_->times, start.condition, noise);
  }

 private:
  std::unique_ptr<Pipeline> p_;
};

class Loader : public TrainedDescriptionLoader {
 public:
  absl::StatusOr<PipelineConfig> ReadDescriptionFile(const std::string& path) const override {
    return LoadPipelineFile(path);
  }

  absl::StatusOr<std::unique_ptr<TrainedDescription>> Build(
      const PipelineConfig& config) const override {
    ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, BuildPipeline(config));
    return std::unique_ptr<TrainedDescription>(new BuiltDescription(std::move(p)));
  }

  absl::Status LoadWeights(TrainedDescription& trained,
                           const std::string& checkpoint) const override {
    return LoadWeightsForSampling(static_cast<BuiltDescription&>(trained).pipeline(),
                                  checkpoint);
  }

  absl::StatusOr<std::unique_ptr<TrainedDescription>> LoadCheckpoint(
      const std::string& path,
      const std::function<absl::Status(const PipelineConfig&)>& accept) const override {
    ABSL_ASSIGN_OR_RETURN(std::string text, ReadCheckpointDescription(path));
    absl::StatusOr<PipelineConfig> config = ParsePipelineText(text, "its stored description");
    if (!config.ok()) {
      return absl::DataLossError(
          absl::StrCat("checkpoint ", path, ": ", config.status().message()));
    }
    ABSL_RETURN_IF_ERROR(accept(*config));
    absl::StatusOr<std::unique_ptr<Pipeline>> trained = BuildPipeline(*config);
    if (!trained.ok()) {
      return absl::Status(trained.status().code(),
                          absl::StrCat("checkpoint ", path, ": its description: ",
                                       trained.status().message()));
    }
    ABSL_RETURN_IF_ERROR(LoadWeightsForSampling(**trained, path));
    return std::unique_ptr<TrainedDescription>(new BuiltDescription(std::move(trained).value()));
  }

  absl::Status CheckReadsThisDescription(const std::string& path, const std::string& verb,
                                         const TrainedDescription& trained,
                                         const BuildContext& context) const override {
    const std::vector<int64_t> shape = trained.sample_shape();
    if (shape != context.data->sample_shape()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, " ", verb, " samples of shape [", absl::StrJoin(shape, ", "),
          "]; data '", context.config->data().name(), "' has [",
          absl::StrJoin(context.data->sample_shape(), ", "), "]"));
    }
    if (!trained.config().has_forward()) return absl::OkStatus();
    // x_t must mean the same noise level for the trained network as for this pipeline.
    PipelineConfig theirs, ours;
    *theirs.mutable_forward() = trained.config().forward();
    *ours.mutable_forward() = context.config->forward();
    if (const std::string difference =
            DescriptionDifference(theirs, ours, CheckpointUse::kWeights);
        !difference.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, " ", verb, " x_t of another forward process: ", difference));
    }
    return absl::OkStatus();
  }
};

}  // namespace

const TrainedDescriptionLoader& PipelineLoader() {
  static const Loader* loader = new Loader;
  return *loader;
}

}  // namespace diffuse
