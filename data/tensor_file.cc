// Data "tensor_file": see tensor_file.proto.
#include <memory>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/randint.h>
#include <ATen/ops/tensor.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/dataset.h"
#include "data/tensor_file.pb.h"
#include "pipeline/registry.h"
#include "util/npy.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

class TensorFileData : public Dataset {
 public:
  TensorFileData(at::Tensor rows, at::Tensor labels, int64_t num_classes)
      : rows_(std::move(rows)), labels_(std::move(labels)), num_classes_(num_classes) {}
  std::vector<int64_t> sample_shape() const override {
    return std::vector<int64_t>(rows_.sizes().begin() + 1, rows_.sizes().end());
  }
  int64_t num_classes() const override { return num_classes_; }
  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    const at::Tensor index = at::randint(0, rows_.size(0), {batch}, generator, at::kLong);
    return {rows_.index_select(0, index),
            labels_.defined() ? labels_.index_select(0, index) : at::Tensor()};
  }

 private:
  at::Tensor rows_, labels_;
  int64_t num_classes_;
};

absl::StatusOr<at::Tensor> Read(const std::string& path) {
  ABSL_ASSIGN_OR_RETURN(NpyArray a, ReadNpy(path));
  return at::tensor(a.data, at::kDouble).reshape(a.shape).to(at::kFloat);
}

absl::StatusOr<std::unique_ptr<Dataset>> Make(const TensorFileOptions& o, const BuildContext&) {
  if (o.path().empty()) return absl::InvalidArgumentError("option path is required");
  ABSL_ASSIGN_OR_RETURN(at::Tensor rows, Read(o.path()));
  if (rows.dim() < 2 || rows.size(0) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "option path: ", o.path(), " has shape [", absl::StrJoin(rows.sizes(), ", "),
        "]; want [N, ...] with N >= 1"));
  }
  if (!at::isfinite(rows).all().item<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat("option path: ", o.path(), " holds non-finite values"));
  }
  at::Tensor labels;
  int64_t num_classes = 0;
  if (!o.labels_path().empty()) {
    ABSL_ASSIGN_OR_RETURN(at::Tensor l, Read(o.labels_path()));
    if (l.sizes() != at::IntArrayRef({rows.size(0)}) ||
        !(l.eq(l.round()) & l.ge(0) & l.lt(1024)).all().item<bool>()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "option labels_path: ", o.labels_path(), " must hold ", rows.size(0),
          " integer labels in [0, 1024)"));
    }
    labels = l.to(at::kLong);
    num_classes = labels.max().item<int64_t>() + 1;
  }
  return std::unique_ptr<Dataset>(new TensorFileData(rows, labels, num_classes));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "tensor_file", TensorFileOptions, Make);

}  // namespace diffuse
