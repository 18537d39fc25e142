// Data "gaussian_mixture": a Gaussian mixture given in the description or in a .npz file.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/diag.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/linalg_eigvalsh.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/tensor.h>

#include "absl/strings/str_cat.h"
#include "data/gaussian_mixture.h"
#include "data/gaussian_mixture.pb.h"
#include "data/mixture_dataset.h"
#include "pipeline/registry.h"
#include "util/npz.h"
#include "util/status_macros.h"

namespace diffuse {
namespace {

constexpr int64_t kMaxDim = 4096, kMaxComponents = 4096, kMaxLabel = 1024;

// The parameters as tensors, before any check.
struct Parameters {
  at::Tensor means, stds, covariances, weights, labels;  // stds or covariances defined
};

at::Tensor ToTensor(const NpyArray& a) {
  return at::tensor(a.data, at::kDouble).reshape(a.shape);
}

absl::StatusOr<Parameters> FromFile(const std::string& path) {
  ABSL_ASSIGN_OR_RETURN(auto arrays, ReadNpz(path));
  auto missing = [&](const std::string& key) {
    return absl::InvalidArgumentError(absl::StrCat("option file: ", path, " has no '", key, "'"));
  };
  Parameters p;
  if (!arrays.count("means")) return missing("means");
  p.means = ToTensor(arrays["means"]);
  if (arrays.count("covariances")) {
    p.covariances = ToTensor(arrays["covariances"]);
  } else if (arrays.count("stds")) {
    p.stds = ToTensor(arrays["stds"]);
  } else {
    return missing("covariances' or 'stds");
  }
  if (arrays.count("weights")) p.weights = ToTensor(arrays["weights"]);
  if (arrays.count("labels")) p.labels = ToTensor(arrays["labels"]);
  for (const auto& [key, array] : arrays) {
    if (key != "means" && key != "covariances" && key != "stds" && key != "weights" &&
        key != "labels") {
      return absl::InvalidArgumentError(
          absl::StrCat("option file: ", path, ": unknown array '", key, "'"));
    }
  }
  return p;
}

absl::StatusOr<Parameters> FromComponents(const GaussianMixtureOptions& o) {
  const int64_t k = o.component_size();
  const int64_t d = o.component(0).mean_size();
  bool full = false;
  for (const auto& c : o.component()) full = full || c.covariance_size() > 0;
  Parameters p;
  p.means = at::empty({k, d}, at::kDouble);
  p.weights = at::empty({k}, at::kDouble);
  p.labels = at::empty({k}, at::kDouble);
  if (full) {
    p.covariances = at::empty({k, d, d}, at::kDouble);
  } else {
    p.stds = at::empty({k, d}, at::kDouble);
  }
  for (int64_t i = 0; i < k; ++i) {
    const auto& c = o.component(i);
    const std::string field = absl::StrCat("option component[", i, "].");
    if (c.mean_size() != d) {
      return absl::InvalidArgumentError(absl::StrCat(field, "mean has ", c.mean_size(),
                                                     " values; component[0] has ", d));
    }
    if (c.std_size() > 0 && c.covariance_size() > 0) {
      return absl::InvalidArgumentError(absl::StrCat(field, "std and covariance: give one"));
    }
    if (c.std_size() != 0 && c.std_size() != 1 && c.std_size() != d) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "std has ", c.std_size(), " values; want 1 or ", d));
    }
    if (c.covariance_size() != 0 && c.covariance_size() != d * d) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "covariance has ", c.covariance_size(), " values; want ", d * d));
    }
    p.means[i] = at::tensor(std::vector<double>(c.mean().begin(), c.mean().end()),
                               at::kDouble);
    at::Tensor std = c.std_size() == 0 ? at::ones({d}, at::kDouble)
                     : c.std_size() == 1
                         ? at::full({d}, c.std(0), at::kDouble)
                         : at::tensor(std::vector<double>(c.std().begin(), c.std().end()),
                                         at::kDouble);
    if (full) {
      p.covariances[i] =
          c.covariance_size() > 0
              ? at::tensor(std::vector<double>(c.covariance().begin(), c.covariance().end()),
                              at::kDouble)
                    .view({d, d})
              : at::diag(std * std);
    } else {
      p.stds[i] = std;
    }
    p.weights[i] = c.weight();
    p.labels[i] = c.label() == -1 ? static_cast<double>(i) : c.label();
  }
  return p;
}

// Shapes, finiteness, positivity; names the offending option.
absl::Status Check(Parameters& p, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", why));
  };
  if (p.means.dim() != 2 || p.means.size(0) < 1 || p.means.size(1) < 1) {
    return bad("means must be [K, D] with K, D >= 1");
  }
  const int64_t k = p.means.size(0), d = p.means.size(1);
  if (k > kMaxComponents || d > kMaxDim) {
    return bad(absl::StrCat("at most ", kMaxComponents, " components of dimension ", kMaxDim));
  }
  if (!p.weights.defined()) p.weights = at::ones({k}, at::kDouble);
  if (!p.labels.defined()) p.labels = at::arange(k, at::kDouble);
  if (p.weights.sizes() != at::IntArrayRef({k})) return bad(absl::StrCat("weights must be [", k, "]"));
  if (p.labels.sizes() != at::IntArrayRef({k})) return bad(absl::StrCat("labels must be [", k, "]"));
  for (const at::Tensor& t : {p.means, p.weights}) {
    if (!at::isfinite(t).all().item<bool>()) return bad("means and weights must be finite");
  }
  if (!(p.weights > 0).all().item<bool>()) return bad("weights must be > 0");
  if (!(p.labels.eq(p.labels.round()) & p.labels.ge(0) & p.labels.lt(kMaxLabel)).all().item<bool>()) {
    return bad(absl::StrCat("labels must be integers in [0, ", kMaxLabel, ")"));
  }
  if (p.covariances.defined()) {
    if (p.covariances.sizes() != at::IntArrayRef({k, d, d})) {
      return bad(absl::StrCat("covariances must be [", k, ", ", d, ", ", d, "]"));
    }
    const at::Tensor& c = p.covariances;
    if (!at::isfinite(c).all().item<bool>() ||
        !at::allclose(c, c.transpose(1, 2), 0, 1e-12 * (1 + c.abs().max().item<double>()))) {
      return bad("covariances must be finite and symmetric");
    }
    const at::Tensor eig = at::linalg_eigvalsh(c, "L");                 // [K, D]
    const at::Tensor smallest = std::get<0>(eig.min(1));
    for (int64_t i = 0; i < k; ++i) {
      if (!(smallest[i].item<double>() > 0)) {
        return bad(absl::StrCat("covariance of component ", i, " is not positive definite"));
      }
    }
  } else {
    if (p.stds.dim() == 1) p.stds = p.stds.unsqueeze(1).expand({k, d});
    if (p.stds.sizes() != at::IntArrayRef({k, d})) {
      return bad(absl::StrCat("stds must be [", k, "] or [", k, ", ", d, "]"));
    }
    if (!(at::isfinite(p.stds) & p.stds.gt(0)).all().item<bool>()) {
      return bad("stds must be finite and > 0");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Dataset>> Make(const GaussianMixtureOptions& o,
                                              const BuildContext&) {
  if (o.has_file() == (o.component_size() > 0)) {
    return absl::InvalidArgumentError("give either option component (one or more) or option file");
  }
  Parameters p;
  if (o.has_file()) {
    ABSL_ASSIGN_OR_RETURN(p, FromFile(o.file()));
  } else {
    ABSL_ASSIGN_OR_RETURN(p, FromComponents(o));
  }
  ABSL_RETURN_IF_ERROR(Check(p, o.has_file() ? "option file " + o.file() : "option component"));
  const at::Tensor labels = p.labels.to(at::kLong);
  return std::unique_ptr<Dataset>(new MixtureDataset(
      p.covariances.defined()
          ? GaussianMixture::WithCovariances(p.means, p.covariances, p.weights, labels)
          : GaussianMixture(p.means, p.stds.contiguous(), p.weights, labels)));
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(Dataset, "gaussian_mixture", GaussianMixtureOptions, Make);

}  // namespace diffuse
