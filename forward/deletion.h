// Deletion of tokens (forward "deletion", deletion.proto): the survival schedule and the
// packing shared by the forward operator and its exact reverse step.
#ifndef DIFFUSE_FORWARD_DELETION_H_
#define DIFFUSE_FORWARD_DELETION_H_

#include <ATen/core/Tensor.h>

namespace diffuse {

// Packs the entries of x [B, L] where keep [B, L] (bool) is true to the front of each row,
// in order, and fills the rest with `marker`.
at::Tensor PackSurvivors(const at::Tensor& x, const at::Tensor& keep, int64_t marker);

}  // namespace diffuse

#endif  // DIFFUSE_FORWARD_DELETION_H_
