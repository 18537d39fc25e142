// Captions of data, for text-image models and text-conditioned diffusion: each example's
// caption is a bag of words from a fixed vocabulary, measured from the example itself (its
// class, attributes computed from its pixels), so that a prompt may combine words that no
// single label covers ("dark sandal").
#ifndef DIFFUSE_DATA_CAPTIONER_H_
#define DIFFUSE_DATA_CAPTIONER_H_

#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace diffuse {

class Captioner {
 public:
  virtual ~Captioner() = default;
  // Every word a caption may hold.
  virtual std::vector<std::string> vocabulary() const = 0;
  // The full caption of each example, as words: x [B, ...sample_shape] in the data's
  // values, label [B] (its class).
  virtual std::vector<std::vector<std::string>> Caption(const at::Tensor& x,
                                                        const at::Tensor& label) const = 0;
};

}  // namespace diffuse

#endif  // DIFFUSE_DATA_CAPTIONER_H_
