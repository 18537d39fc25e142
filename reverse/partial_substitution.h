// The noise share s of partial substitution (see partial_substitution.proto), as a free function
// for the component and its tests.
#ifndef DIFFUSE_REVERSE_PARTIAL_SUBSTITUTION_H_
#define DIFFUSE_REVERSE_PARTIAL_SUBSTITUTION_H_

#include "forward/forward_process.h"

namespace diffuse {

// s = eta sqrt(1 - SNR(t) / SNR(t_prev)) for Gaussian coefficients (0 when t_prev is
// clean data), eta otherwise. For VP this equals DDIM's sigma_t(eta) / sqrt(1 - ab_prev).
double PartialSubstitutionShare(const ForwardProcess& forward, double eta, double t,
                                double t_prev);

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_PARTIAL_SUBSTITUTION_H_
