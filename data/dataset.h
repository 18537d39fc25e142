// Training data. Toy 2-D sets are sampled fresh for every batch (infinite data); image
// sets (later) iterate over files. A dataset whose exact distribution is a Gaussian mixture
// exposes it, which enables the analytic x0-oracle and exact quality figures.
#ifndef DIFFUSE_DATA_DATASET_H_
#define DIFFUSE_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace diffuse {

class Captioner;
class GaussianMixture;
class TokenMixture;

struct DataBatch {
  at::Tensor x;      // [B, ...sample_shape] float32, or int64 tokens
  at::Tensor label;  // [B] int64, or undefined for unlabelled data
  // Each example's caption words, for data that stores captions (image folders); empty for
  // data whose captioner measures them from the examples.
  std::vector<std::vector<std::string>> captions;
  // [B, A] int64: each example's value of every attribute (Dataset::attributes), an index
  // into its values, or -1 where unknown; undefined for data without attributes.
  at::Tensor attributes;
};

// A named property of examples beyond the label (style, skin tone), with its values in
// index order.
struct DataAttribute {
  std::string name;
  std::vector<std::string> values;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::vector<int64_t> sample_shape() const = 0;
  // K > 0 when samples are int64 tokens in [0, K); 0 for real-valued data.
  virtual int64_t num_token_classes() const { return 0; }
  // 0 for unlabelled data.
  virtual int64_t num_classes() const { return 0; }
  virtual DataBatch Sample(int64_t batch, at::Generator& generator) = 0;
  // Data held as a finite list of examples (image folders): how many, and examples
  // first .. first + count - 1 in order, captions included, for evaluation; 0 and an empty
  // batch for data drawn afresh.
  virtual int64_t num_examples() const { return 0; }
  virtual DataBatch Examples(int64_t first, int64_t count) const { return {}; }
  // The attributes DataBatch::attributes holds, in column order; empty for most data.
  virtual std::vector<DataAttribute> attributes() const { return {}; }
  // What generated samples stand for, as written to files and pictures: themselves, except
  // for data that encodes values as tokens (fashion_mnist's grey levels: images in [-1, 1]).
  virtual at::Tensor Decode(const at::Tensor& samples) const { return samples; }
  // Captions of examples (text-image models, text-conditioned diffusion), else nullptr.
  virtual const Captioner* captioner() const { return nullptr; }
  // The exact data distribution when it is a Gaussian mixture, else nullptr.
  virtual const GaussianMixture* mixture() const { return nullptr; }
  // The exact distribution of token data when it is a TokenMixture, else nullptr.
  virtual const TokenMixture* token_mixture() const { return nullptr; }
};

}  // namespace diffuse

#endif  // DIFFUSE_DATA_DATASET_H_
