// Data "token_mixture": token sequences with an exactly known distribution; see
// token_mixture_data.proto and token_mixture.h.
#include <memory>

#include "data/dataset.h"
#include "data/token_mixture.h"
#include "data/token_mixture_data.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class TokenMixtureData : public Dataset {
 public:
  explicit TokenMixtureData(TokenMixture mixture) : mixture_(std::move(mixture)) {}
  std::vector<int64_t> sample_shape() const override { return {mixture_.length()}; }
  int64_t num_token_classes() const override { return mixture_.num_classes(); }
  int64_t num_classes() const override { return mixture_.num_components(); }
  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    return mixture_.Sample(batch, generator);
  }
  const TokenMixture* token_mixture() const override { return &mixture_; }

 private:
  TokenMixture mixture_;
};

absl::StatusOr<std::unique_ptr<Dataset>> Make(const TokenMixtureOptions& o,
                                              const BuildContext&) {
  ABSL_RETURN_IF_ERROR(CheckInRange("num_classes", o.num_classes(), 2, 1000));
  ABSL_RETURN_IF_ERROR(CheckInRange("length", o.length(), 1, 4096));
  ABSL_RETURN_IF_ERROR(CheckInRange("num_components", o.num_components(), 1, 256));
  ABSL_RETURN_IF_ERROR(CheckInRange("sharpness", o.sharpness(), 0, 100));
  return std::unique_ptr<Dataset>(new TokenMixtureData(TokenMixture::Random(
      o.num_components(), o.length(), o.num_classes(), o.sharpness(), o.seed())));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "token_mixture", TokenMixtureOptions, Make);

}  // namespace diffuse
