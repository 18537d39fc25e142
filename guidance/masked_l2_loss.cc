// Guidance loss "masked_l2": see MaskedL2LossOptions in masked_l2_loss.proto.
#include <memory>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/tensor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/dataset.h"
#include "guidance/guidance_loss.h"
#include "guidance/masked_l2_loss.pb.h"
#include "pipeline/registry.h"
#include "util/npy.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class MaskedL2Loss : public GuidanceLoss {
 public:
  MaskedL2Loss(at::Tensor reference, at::Tensor mask)
      : reference_(std::move(reference)), mask_(std::move(mask)) {}

  at::Tensor Loss(const at::Tensor& x0_hat, const GuidanceInput&) override {
    const at::Tensor reference = reference_.to(x0_hat.scalar_type()).unsqueeze(0);
    const at::Tensor mask = mask_.to(x0_hat.scalar_type()).unsqueeze(0);
    return (mask * (x0_hat - reference).square()).flatten(1).sum(1);
  }

 private:
  at::Tensor reference_, mask_;
};

// One sample of shape `sample` from an .npy of that shape or [1, ...].
absl::StatusOr<at::Tensor> ReadSample(const std::string& path, const char* option,
                                      const std::vector<int64_t>& sample) {
  absl::StatusOr<NpyArray> a = ReadNpy(path);
  if (!a.ok()) {
    return absl::Status(a.status().code(), absl::StrCat("option ", option, ": ", a.status().message()));
  }
  std::vector<int64_t> batch_of_one{1};
  batch_of_one.insert(batch_of_one.end(), sample.begin(), sample.end());
  if (a->shape != sample && a->shape != batch_of_one) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option ", option, ": ", path, " has shape [", absl::StrJoin(a->shape, ", "),
        "]; the data's samples are [", absl::StrJoin(sample, ", "), "]"));
  }
  return at::tensor(a->data, at::kDouble).reshape(sample);
}

absl::StatusOr<std::unique_ptr<GuidanceLoss>> Make(const MaskedL2LossOptions& o,
                                                   const BuildContext& context) {
  if (o.reference().empty()) return absl::InvalidArgumentError("option reference is required");
  if (o.mask().empty()) return absl::InvalidArgumentError("option mask is required");
  ABSL_ASSIGN_OR_RETURN(at::Tensor reference, ReadSample(o.reference(), "reference", context.data->sample_shape()));
  ABSL_ASSIGN_OR_RETURN(at::Tensor mask, ReadSample(o.mask(), "mask", context.data->sample_shape()));
  if (!at::isfinite(reference).all().item<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat("option reference: ", o.reference(),
                                                   " holds non-finite values"));
  }
  if (!(mask.ge(0).all().item<bool>() && mask.le(1).all().item<bool>())) {
    return absl::InvalidArgumentError(
        absl::StrCat("option mask: ", o.mask(), " holds values outside [0, 1]"));
  }
  return std::unique_ptr<GuidanceLoss>(new MaskedL2Loss(reference, mask));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(GuidanceLoss, "masked_l2", MaskedL2LossOptions, Make);

}  // namespace diffuse
