// The exact reverse posterior of an absorbing-state (masking) process, D3PM (Austin et al.
// 2021) with the absorbing transition: given x0, an entry masked at t is unmasked at s < t
// with probability (keep(s) - keep(t)) / (1 - keep(t)) and then equals x0; an unmasked entry
// stays. Free function for the component and its tests.
#ifndef DIFFUSE_REVERSE_ABSORBING_POSTERIOR_H_
#define DIFFUSE_REVERSE_ABSORBING_POSTERIOR_H_

namespace diffuse {

// P(unmasked at s | masked at t, x0).
double AbsorbingUnmaskProbability(double keep_t, double keep_s);

}  // namespace diffuse

#endif  // DIFFUSE_REVERSE_ABSORBING_POSTERIOR_H_
