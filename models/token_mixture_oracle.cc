// Predictor "token_mixture_oracle": see mixture_oracle.proto (TokenMixtureOracleOptions).
#include <memory>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>

#include "absl/strings/str_cat.h"
#include "data/dataset.h"
#include "data/token_mixture.h"
#include "forward/categorical.h"
#include "models/mixture_oracle.pb.h"
#include "models/x0_predictor.h"
#include "pipeline/registry.h"

namespace diffuse {
namespace {

class TokenMixtureOracle : public X0Predictor {
 public:
  TokenMixtureOracle(const TokenMixture& mixture, const CategoricalCoefficients& coefficients,
                     bool class_conditional)
      : mixture_(mixture), coefficients_(coefficients), class_conditional_(class_conditional) {}

  X0Prediction Predict(const at::Tensor& x_t, const Time& t,
                       const Condition& condition) override {
    const at::Tensor probs = mixture_.Posterior(
        CategoricalLikelihood(coefficients_, x_t, t),
        class_conditional_ ? condition.label : at::Tensor());
    return {probs.argmax(-1), probs.clamp_min(1e-300).log()};
  }

  ConditionSupport conditions() const override {
    ConditionSupport support;
    if (class_conditional_) {
      support.num_classes = mixture_.num_components();
      support.null_label = true;
    }
    return support;
  }
  bool predicts_logits() const override { return true; }

 private:
  const TokenMixture& mixture_;
  const CategoricalCoefficients& coefficients_;
  bool class_conditional_;
};

absl::StatusOr<std::unique_ptr<X0Predictor>> Make(const TokenMixtureOracleOptions& options,
                                                  const BuildContext& context) {
  if (context.data->token_mixture() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "needs token data with a known distribution (data 'token_mixture'); data '",
        context.config->data().name(), "' is not one"));
  }
  if (context.forward->categorical() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "needs a categorical forward process on tokens; forward '",
        context.config->forward().name(), "' is not one"));
  }
  return std::unique_ptr<X0Predictor>(new TokenMixtureOracle(
      *context.data->token_mixture(), *context.forward->categorical(),
      options.class_conditional()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(X0Predictor, "token_mixture_oracle", TokenMixtureOracleOptions,
                           Make);

}  // namespace diffuse
