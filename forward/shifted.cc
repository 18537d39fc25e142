// Forward "shifted": see shifted.proto.
#include <memory>

#include "absl/strings/str_cat.h"
#include "forward/forward_process.h"
#include "forward/forward_wrapper.h"
#include "forward/shifted.pb.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Shifted : public ForwardWrapper {
 public:
  explicit Shifted(std::unique_ptr<ForwardProcess> inner) : ForwardWrapper(std::move(inner)) {}

  at::Tensor Offset(const Condition& condition) const override {
    TORCH_CHECK(condition.image.defined(),
                "forward 'shifted' needs x_hat in Condition::image (supplied by the prior)");
    return condition.image;
  }
  bool HasOffset() const override { return true; }
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const ShiftedOptions& o,
                                                     const BuildContext& context) {
  if (!o.has_inner()) return absl::InvalidArgumentError("option inner is required");
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<ForwardProcess> inner,
                        Registry<ForwardProcess>::Global().Create(o.inner(), "inner", context));
  if (inner->data_kind() != DataKind::kContinuous) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option inner: '", o.inner().name(), "' works on tokens; a shift needs real values"));
  }
  return std::unique_ptr<ForwardProcess>(new Shifted(std::move(inner)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "shifted", ShiftedOptions, Make);

}  // namespace diffuse
