// Reverse "deletion_posterior": the exact q(x_s | x_t, x0) of forward "deletion", with
// x0 = x0_hat.x0 (a full token sequence; use a predictor whose x0 is a draw from
// q(x0 | x_t)). Given x0 and the packed survivors x_t:
//  1. which tokens of x0 survived to t: every embedding of x_t as a subsequence of x0 is
//     equally likely (each has the same number of survivors), so one is drawn uniformly by
//     counting embeddings (dynamic programming) and sampling backwards;
//  2. each other token of x0 was deleted between s and t, i.e. survives to s, with
//     probability (keep(s) - keep(t)) / (1 - keep(t));
//  3. x_s packs the survivors at s.
// If x_t is not a subsequence of x0_hat (a predictor error) the step falls back to
// x_s ~ q(x_s | x0_hat), dropping x_t.
#include <memory>
#include <vector>

#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/where.h>
#include <ATen/ops/zeros.h>

#include "forward/deletion.h"
#include "pipeline/registry.h"
#include "reverse/absorbing_posterior.h"
#include "reverse/reverse_conditional.h"

namespace diffuse {
namespace {

// Marks, in `kept` (row of x0), one uniformly drawn embedding of t_row[0..n) into x0_row;
// false when none exists. u: uniforms in [0, 1), one per position of x0.
bool MarkEmbedding(const int64_t* x0, int64_t length, const int64_t* xt, int64_t n,
                   const float* u, bool* kept) {
  // ways[i][j]: embeddings of xt[j..n) into x0[i..length).
  std::vector<double> ways((length + 1) * (n + 1), 0.0);
  auto w = [&](int64_t i, int64_t j) -> double& { return ways[i * (n + 1) + j]; };
  for (int64_t i = length; i >= 0; --i) {
    for (int64_t j = n; j >= 0; --j) {
      if (j == n) {
        w(i, j) = 1;
      } else if (i < length) {
        w(i, j) = w(i + 1, j) + (x0[i] == xt[j] ? w(i + 1, j + 1) : 0.0);
      }
    }
  }
  if (w(0, 0) == 0) return false;
  for (int64_t i = 0, j = 0; i < length; ++i) {
    kept[i] = false;
    if (j < n && x0[i] == xt[j] && u[i] * w(i, j) < w(i + 1, j + 1)) {
      kept[i] = true;
      ++j;
    }
  }
  return true;
}

class DeletionPosterior : public ReverseConditional {
 public:
  absl::Status CheckCompatible(const ForwardProcess& forward) const override {
    if (forward.deletion() == nullptr) {
      return absl::FailedPreconditionError("needs forward process 'deletion'");
    }
    return absl::OkStatus();
  }

  at::Tensor Step(const ReverseStep& step, const at::Tensor& x_t,
                  const X0Prediction& x0_hat) override {
    const DeletionCoefficients& d = *step.forward->deletion();
    const int64_t marker = d.num_classes();
    const double keep_s = d.Keep(step.t_prev);
    // A token deleted by t survives to s as a masked entry is revealed (the same law).
    const double revive = AbsorbingUnmaskProbability(d.Keep(step.t), keep_s);
    const at::Tensor x0 = x0_hat.x0.to(at::kLong).contiguous();
    const at::Tensor xt = x_t.to(at::kLong).contiguous();
    const int64_t batch = x0.size(0), length = x0.size(1);
    const at::Tensor u_align = step.noise->Uniform({batch, length}).contiguous();
    const at::Tensor u_revive = step.noise->Uniform({batch, length});
    at::Tensor survived = at::zeros({batch, length}, at::kBool);
    at::Tensor consistent = at::empty({batch}, at::kBool);
    const at::Tensor n = xt.lt(marker).sum(1).contiguous();
    const int64_t *x0_p = x0.data_ptr<int64_t>(), *xt_p = xt.data_ptr<int64_t>(),
                  *n_p = n.data_ptr<int64_t>();
    const float* u_p = u_align.data_ptr<float>();
    bool *survived_p = survived.data_ptr<bool>(), *consistent_p = consistent.data_ptr<bool>();
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t row = b * length;
      consistent_p[b] = MarkEmbedding(x0_p + row, length, xt_p + row, n_p[b], u_p + row,
                                      survived_p + row);
    }
    const at::Tensor real = x0.lt(marker);
    // Consistent rows: survivors at t plus revived ones; others: a fresh draw at s.
    const at::Tensor at_s = at::where(
        consistent.unsqueeze(1), survived | (u_revive.lt(revive) & real),
        u_revive.lt(keep_s) & real);
    return PackSurvivors(x0, at_s & real, marker);
  }
};

absl::StatusOr<std::unique_ptr<ReverseConditional>> Make(const NoOptions&, const BuildContext&) {
  return std::unique_ptr<ReverseConditional>(new DeletionPosterior);
}

}  // namespace

DIFFUSE_REGISTER_COMPONENT(ReverseConditional, "deletion_posterior", NoOptions, Make);

}  // namespace diffuse
