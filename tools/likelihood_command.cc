// `diffuse likelihood`: the exact log-likelihood of points (--images / --split; for toy data
// any .npy of samples) under a description's probability-flow ODE (assembly/likelihood.h),
// in nats and bits per dimension with its standard error; for mixture data also the data's
// own log-density of the same points.
#include <chrono>
#include <cmath>
#include <iostream>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/isfinite.h>
#include <ATen/ops/ones.h>
#include <ATen/ops/zeros.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "assembly/likelihood.h"
#include "data/gaussian_mixture.h"
#include "tools/cli_common.h"
#include "tools/verb.h"
#include "util/status_macros.h"

ABSL_FLAG(std::string, trace, "auto",
          "likelihood: the divergence: exact (one backward pass per dimension), rademacher or "
          "gaussian (Hutchinson, one probe per point), auto (exact up to 16 dimensions).");
ABSL_FLAG(double, rtol, 1e-5, "likelihood: the ODE solver's relative tolerance.");
ABSL_FLAG(double, atol, 1e-5, "likelihood: the ODE solver's absolute tolerance.");
ABSL_FLAG(double, dequantize, -1,
          "likelihood: uniform dequantization bin (-1: 2/255 for 8-bit image data on [-1, 1], "
          "0 for other data; 0: none).");

namespace diffuse {

absl::Status LikelihoodCommand() {
  ABSL_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, LoadPipeline());
  ABSL_RETURN_IF_ERROR(LoadTrainedWeights(*p));
  if (absl::Status s = CheckLikelihood(*p); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("--pipeline ", absl::GetFlag(FLAGS_pipeline), ": ",
                                               s.message()));
  }
  ABSL_ASSIGN_OR_RETURN(const at::Tensor x0, ImagesFromFlags(p.get()));
  const std::string source =
      absl::GetFlag(FLAGS_images).empty() ? "--split" : absl::GetFlag(FLAGS_images);
  const std::vector<int64_t> shape = p->data->sample_shape();
  if (x0.dim() != static_cast<int64_t>(shape.size()) + 1 ||
      x0.sizes().slice(1) != at::IntArrayRef(shape)) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": samples of another shape than the data's"));
  }
  if (!at::isfinite(x0).all().item<bool>()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": non-finite values"));
  }
  LikelihoodOptions o;
  const std::string trace = absl::GetFlag(FLAGS_trace);
  const int64_t dims = x0[0].numel();
  if (trace == "exact" || (trace == "auto" && dims <= 16)) {
    o.trace = TraceEstimator::kExact;
  } else if (trace == "rademacher" || trace == "auto") {
    o.trace = TraceEstimator::kRademacher;
  } else if (trace == "gaussian") {
    o.trace = TraceEstimator::kGaussian;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "--trace=", trace, ": want exact, rademacher, gaussian or auto"));
  }
  o.rtol = absl::GetFlag(FLAGS_rtol);
  o.atol = absl::GetFlag(FLAGS_atol);
  if (!(o.rtol > 0 && o.rtol < 1) || !(o.atol > 0 && o.atol < 1)) {
    return absl::InvalidArgumentError("--rtol and --atol must be in (0, 1)");
  }
  const bool images = p->data->mixture() == nullptr && shape.size() == 3;
  const double bin = absl::GetFlag(FLAGS_dequantize);
  if (!(bin >= 0 || bin == -1) || bin > 1) {
    return absl::InvalidArgumentError("--dequantize must be -1, 0 or a bin width in (0, 1]");
  }
  o.dequantization_bin = bin >= 0 ? bin : (images ? 2.0 / 255.0 : 0.0);
  const int64_t seed = absl::GetFlag(FLAGS_seed);
  o.seed = seed < 0 ? 0 : static_cast<uint64_t>(seed);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<LikelihoodResult> r = EstimateLikelihood(*p, x0, o);
  if (!r.ok()) {
    return absl::Status(r.status().code(), absl::StrCat("--pipeline ", absl::GetFlag(FLAGS_pipeline),
                                                        ": ", r.status().message()));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int64_t n = x0.size(0);
  std::cout << absl::StrFormat(
      "probability-flow ODE log-likelihood of %d points (%d dimensions), t_min = %g, "
      "trace %s, rtol %g, atol %g%s:\n"
      "  log-likelihood   %12.4f +- %.4f nats per point (standard error over the points)\n"
      "    prior term     %12.4f\n    divergence     %12.4f\n"
      "  bits per dim     %12.4f%s\n"
      "  %.0f velocity evaluations per batch, %.3f s per 1,000 points\n",
      n, dims, r->t_min, o.trace == TraceEstimator::kExact ? "exact"
                         : o.trace == TraceEstimator::kRademacher ? "Hutchinson (Rademacher)"
                                                                  : "Hutchinson (Gaussian)",
      o.rtol, o.atol,
      o.dequantization_bin > 0
          ? absl::StrFormat(", uniform dequantization bin %.6g", o.dequantization_bin)
          : std::string(),
      r->mean, r->standard_error, r->prior_term, r->divergence_term, r->bits_per_dim,
      o.dequantization_bin > 0 ? " (of the discrete data: -log p(x + u bin) - D log bin)" : "",
      r->function_evals, seconds / n * 1000);
  if (const GaussianMixture* mixture = p->data->mixture(); mixture != nullptr) {
    const at::Tensor exact = mixture->LogProb(x0.to(at::kDouble), at::ones({n}, at::kDouble),
                                              at::zeros({n}, at::kDouble));
    const at::Tensor diff = r->log_likelihood - exact;
    std::cout << absl::StrFormat(
        "  the data's log-density %10.4f; model - data %+.4f +- %.4f nats per point\n",
        exact.mean().item<double>(), diff.mean().item<double>(),
        n > 1 ? diff.std().item<double>() / std::sqrt(n) : 0.0);
  }
  return absl::OkStatus();
}

DIFFUSE_REGISTER_VERB("likelihood", LikelihoodCommand, /*trains=*/false);

}  // namespace diffuse
