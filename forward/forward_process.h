// Concept 1: the forward operator x_t = F_t(x0, eps), eps ~ q(eps).
//
// Any gradual corruption fits (noise, blur, masking, deletion, ...): small t keeps most of
// x0, t_max destroys it. An implementation says what the rest of the toolkit may rely on:
// whether F_t can be inverted in eps (substitution samplers), whether eps is N(0, I)
// (partial substitution, the DDIM eta family), and for Gaussian families the coefficients
// of x_t = alpha(t) x0 + sigma(t) eps (eps / v / score parameterizations, ODE solvers).
// The pipeline builder checks those capabilities once; per-step methods assume them.
//
// Example description (see forward/gaussian_vp.proto for the options):
//   forward {
//     name: "gaussian_vp"
//     options { [type.googleapis.com/diffuse.GaussianVpOptions] { schedule: COSINE } }
//   }
#ifndef DIFFUSE_FORWARD_FORWARD_PROCESS_H_
#define DIFFUSE_FORWARD_FORWARD_PROCESS_H_

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "forward/condition.h"
#include "forward/time.h"
#include "random/noise_source.h"

namespace diffuse {

enum class DataKind {
  kContinuous,  // real-valued tensors
  kTokens,      // int64 class indices in [0, K) (and a mask state K where there is one)
};

// x_t = alpha(t) x0 + sigma(t) eps with eps ~ N(0, I).
class GaussianCoefficients {
 public:
  virtual ~GaussianCoefficients() = default;
  virtual double Alpha(double t) const = 0;
  virtual double Sigma(double t) const = 0;
  // Per-sample versions: float64 [B] -> float64 [B].
  virtual at::Tensor Alpha(const at::Tensor& t) const = 0;
  virtual at::Tensor Sigma(const at::Tensor& t) const = 0;
};

// Absorbing-state (masking) processes, D3PM-style: each entry of x_t is independently x0's
// value with probability Keep(t), else MaskValue().
class AbsorbingCoefficients {
 public:
  virtual ~AbsorbingCoefficients() = default;
  virtual double Keep(double t) const = 0;  // 1 at t = 0, decreasing
  virtual double MaskValue() const = 0;
};

// Factorized categorical corruption of tokens (D3PM; multinomial diffusion; masking): every
// entry moves independently from state i at time s to state j at time t >= s with
// probability Q(s, t)[i, j] = r delta_ij + (1 - r) m_j, r = Keep(t) / Keep(s), where m is
// the stationary distribution over the num_states() states (uniform over the K classes, or
// all mass on the mask state K). forward/categorical.h derives likelihoods and posteriors.
class CategoricalCoefficients {
 public:
  virtual ~CategoricalCoefficients() = default;
  virtual int64_t num_classes() const = 0;  // K: data tokens are 0..K-1
  virtual int64_t num_states() const = 0;   // K, or K + 1 with a mask state K
  virtual double Keep(double t) const = 0;  // Keep(0) = 1, decreasing
  virtual at::Tensor Stationary() const = 0;  // m: float64 [num_states()], sums to 1
};

// Deletion of tokens (forward "deletion"): each token survives to t with probability Keep(t),
// survivors packed to the front of the row, the rest filled with the marker num_classes().
class DeletionCoefficients {
 public:
  virtual ~DeletionCoefficients() = default;
  virtual double Keep(double t) const = 0;     // 1 at t = 0, decreasing
  virtual int64_t num_classes() const = 0;     // K; K is also the deleted marker
};

class ForwardProcess {
 public:
  virtual ~ForwardProcess() = default;

  virtual DataKind data_kind() const = 0;
  virtual TimeDomain time_domain() const = 0;
  // The range a network's time input is scaled by: time_domain(), except that a truncated
  // process reports its inner one, so that one network trained on the full process serves
  // every T' (ES-DDPM).
  virtual TimeDomain network_time_domain() const { return time_domain(); }

  // Checked once by the builder: whether samples of this shape (without the batch
  // dimension) can be corrupted by this operator.
  virtual absl::Status CheckSampleShape(at::IntArrayRef sample_shape) const {
    return absl::OkStatus();
  }

  // x_t = F_t(x0, eps). x0 and eps are [B, ...]; t is shared or per sample.
  virtual at::Tensor Apply(const at::Tensor& x0, const Time& t, const at::Tensor& eps) const = 0;

  // eps ~ q(eps) of the given shape ([B, ...]).
  virtual at::Tensor SampleNoise(at::IntArrayRef shape, NoiseSource& noise) const = 0;

  // Whether InvertNoise is available.
  virtual bool IsInvertible() const { return false; }
  // The eps with F_t(x0, eps) == x_t. Precondition: IsInvertible().
  virtual at::Tensor InvertNoise(const at::Tensor& x0, const at::Tensor& x_t,
                                 const Time& t) const = 0;

  // Whether q(eps) is the standard normal.
  virtual bool NoiseIsStandardNormal() const { return false; }

  // The Gaussian coefficients, or nullptr when F_t is not of that form.
  virtual const GaussianCoefficients* gaussian() const { return nullptr; }

  // The absorbing-state coefficients, or nullptr for other operators.
  virtual const AbsorbingCoefficients* absorbing() const { return nullptr; }

  // The deletion coefficients, or nullptr for other operators.
  virtual const DeletionCoefficients* deletion() const { return nullptr; }

  // The categorical coefficients (token data), or nullptr for other operators.
  virtual const CategoricalCoefficients* categorical() const { return nullptr; }

  // Draws the terminal state x_{t_max} of the given shape. Precondition:
  // HasDataFreeTerminal().
  virtual at::Tensor SampleTerminal(at::IntArrayRef shape, NoiseSource& noise) const = 0;

  // Operators defined on a residual x - c, with c from the condition (DiffuseVAE: VP on
  // x0 - x_hat, ending at N(x_hat, I)): the offset c of one batch, or an undefined tensor
  // (the default: no offset). All other methods then act on residuals; the sampler, the
  // trainer and priors add and remove c, so every reverse step stays exact.
  virtual at::Tensor Offset(const Condition& condition) const { return at::Tensor(); }
  virtual bool HasOffset() const { return false; }

  // Whether x_{t_max} can be drawn without the data. False for truncated processes (ES-DDPM),
  // whose start comes from a prior that estimates x0 and diffuses it ("diffused_estimate").
  virtual bool HasDataFreeTerminal() const { return true; }
};

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_FORWARD_PROCESS_H_
