// Predictor "mixture_oracle" and noisy classifier "mixture_oracle": exact posterior
// quantities of a Gaussian-mixture data distribution (data/gaussian_mixture.h), so every
// sampler and guidance term can be tested with no training.
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>
#include <ATen/ops/stack.h>

#include "data/dataset.h"
#include "data/gaussian_mixture.h"
#include "forward/gaussian.h"
#include "models/mixture_oracle.pb.h"
#include "models/noisy_classifier.h"
#include "models/x0_predictor.h"
#include "pipeline/registry.h"

namespace diffuse {
namespace {

absl::Status CheckMixtureAndGaussian(const BuildContext& context) {
  if (context.data == nullptr || context.data->mixture() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "needs data whose distribution is a known Gaussian mixture; data '",
        context.config->data().name(), "' is not one"));
  }
  if (context.forward == nullptr || context.forward->gaussian() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "needs a forward process with Gaussian coefficients; forward '",
        context.config->forward().name(), "' has none"));
  }
  return absl::OkStatus();
}

class MixtureOracle : public X0Predictor {
 public:
  MixtureOracle(const GaussianMixture& mixture, const ForwardProcess& forward,
                bool class_conditional)
      : mixture_(mixture),
        forward_(forward),
        coefficients_(*forward.gaussian()),
        class_conditional_(class_conditional) {}

  X0Prediction Predict(const at::Tensor& x_t, const Time& t,
                       const Condition& condition) override {
    const at::Tensor label = class_conditional_ ? condition.label : at::Tensor();
    const at::Tensor alpha = AlphaTensor(coefficients_, t);
    // With an offset c independent of x0 (forward "shifted"), x_t - (1 - alpha) c =
    // alpha x0 + sigma eps is the unshifted process.
    const at::Tensor offset = forward_.Offset(condition);
    const at::Tensor y =
        offset.defined() ? x_t - (1 - BroadcastPerSample(alpha.expand({x_t.size(0)}), x_t)) * offset
                         : x_t;
    return {mixture_.PosteriorMean(y.flatten(1), alpha, SigmaTensor(coefficients_, t), label)
                .view(x_t.sizes()),
            at::Tensor()};
  }

  ConditionSupport conditions() const override {
    ConditionSupport support;
    if (class_conditional_) {
      support.num_classes = mixture_.num_classes();
      support.null_label = true;
    }
    return support;
  }

 private:
  const GaussianMixture& mixture_;
  const ForwardProcess& forward_;
  const GaussianCoefficients& coefficients_;
  bool class_conditional_;
};

class MixtureClassifier : public NoisyClassifier {
 public:
  MixtureClassifier(const GaussianMixture& mixture, const GaussianCoefficients& coefficients)
      : mixture_(mixture), coefficients_(coefficients) {}

  int64_t num_classes() const override { return mixture_.num_classes(); }

  // log p(y | x_t) = log p(x_t | y) + log p(y) - log p(x_t), for every class.
  at::Tensor LogProbabilities(const at::Tensor& x_t, const Time& t) override {
    const at::Tensor x = x_t.flatten(1);
    const at::Tensor alpha = AlphaTensor(coefficients_, t);
    const at::Tensor sigma = SigmaTensor(coefficients_, t);
    const at::Tensor log_prior = mixture_.ClassLogPrior();
    const at::Tensor log_evidence = mixture_.LogProb(x, alpha, sigma);
    std::vector<at::Tensor> columns;
    for (int64_t k = 0; k < mixture_.num_classes(); ++k) {
      const at::Tensor label = at::full({x.size(0)}, k, at::kLong);
      columns.push_back(mixture_.LogProb(x, alpha, sigma, label) + log_prior[k] - log_evidence);
    }
    return at::stack(columns, 1);
  }

 private:
  const GaussianMixture& mixture_;
  const GaussianCoefficients& coefficients_;
};

absl::StatusOr<std::unique_ptr<X0Predictor>> MakeOracle(const MixtureOracleOptions& options,
                                                        const BuildContext& context) {
  absl::Status status = CheckMixtureAndGaussian(context);
  if (!status.ok()) return status;
  return std::unique_ptr<X0Predictor>(new MixtureOracle(
      *context.data->mixture(), *context.forward, options.class_conditional()));
}

absl::StatusOr<std::unique_ptr<NoisyClassifier>> MakeClassifier(
    const MixtureClassifierOptions&, const BuildContext& context) {
  absl::Status status = CheckMixtureAndGaussian(context);
  if (!status.ok()) return status;
  return std::unique_ptr<NoisyClassifier>(
      new MixtureClassifier(*context.data->mixture(), *context.forward->gaussian()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(X0Predictor, "mixture_oracle", MixtureOracleOptions, MakeOracle);
DIFFUSE_REGISTER_COMPONENT(NoisyClassifier, "mixture_oracle", MixtureClassifierOptions,
                           MakeClassifier);

}  // namespace diffuse
