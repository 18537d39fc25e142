// Forward "truncated": see truncated.proto.
#include <memory>

#include "absl/strings/str_cat.h"
#include "forward/forward_process.h"
#include "forward/forward_wrapper.h"
#include "forward/truncated.pb.h"
#include "pipeline/option_checks.h"
#include "pipeline/registry.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class Truncated : public ForwardWrapper {
 public:
  Truncated(std::unique_ptr<ForwardProcess> inner, int64_t num_steps)
      : ForwardWrapper(std::move(inner)), num_steps_(num_steps) {}

  TimeDomain time_domain() const override { return {true, num_steps_}; }
  bool HasDataFreeTerminal() const override { return false; }
  at::Tensor SampleTerminal(at::IntArrayRef, NoiseSource&) const override {
    TORCH_CHECK(false, "a truncated process has no data-free terminal state; use a prior that "
                       "diffuses an estimate of x0 (\"diffused_estimate\")");
  }

 private:
  int64_t num_steps_;
};

absl::StatusOr<std::unique_ptr<ForwardProcess>> Make(const TruncatedOptions& o,
                                                     const BuildContext& context) {
  if (!o.has_inner()) return absl::InvalidArgumentError("option inner is required");
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<ForwardProcess> inner,
                        Registry<ForwardProcess>::Global().Create(o.inner(), "inner", context));
  const TimeDomain domain = inner->time_domain();
  if (!domain.discrete) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option inner: '", o.inner().name(), "' runs in continuous time; truncation needs steps"));
  }
  ABSL_RETURN_IF_ERROR(CheckInRange("num_steps", o.num_steps(), 1, domain.num_steps - 1));
  return std::unique_ptr<ForwardProcess>(new Truncated(std::move(inner), o.num_steps()));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "truncated", TruncatedOptions, Make);

}  // namespace diffuse
