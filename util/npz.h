// NumPy .npz archives (numpy.savez, stored; numpy.savez_compressed, deflated): a zip file of
// .npy members. Read through the zip central directory, zip64 included (numpy writes every
// member with zip64 sizes).
#ifndef DIFFUSE_UTIL_NPZ_H_
#define DIFFUSE_UTIL_NPZ_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "util/npy.h"

namespace diffuse {

// Member name without ".npy" -> array. `source` names the file in errors.
absl::StatusOr<std::map<std::string, NpyArray>> DecodeNpz(const std::string& bytes,
                                                          const std::string& source);
absl::StatusOr<std::map<std::string, NpyArray>> ReadNpz(const std::string& path);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_NPZ_H_
