// A Dataset that draws from a labelled Gaussian mixture and exposes it, so the exact oracle,
// the noisy classifier and log-densities can be built from the data (eight_gaussians,
// gaussian_mixture).
#ifndef DIFFUSE_DATA_MIXTURE_DATASET_H_
#define DIFFUSE_DATA_MIXTURE_DATASET_H_

#include <cstdint>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "data/dataset.h"
#include "data/gaussian_mixture.h"

namespace diffuse {

class MixtureDataset : public Dataset {
 public:
  explicit MixtureDataset(GaussianMixture mixture) : mixture_(std::move(mixture)) {}
  std::vector<int64_t> sample_shape() const override { return {mixture_.dim()}; }
  int64_t num_classes() const override { return mixture_.num_classes(); }
  DataBatch Sample(int64_t batch, at::Generator& generator) override {
    at::Tensor component;
    at::Tensor x = mixture_.Sample(batch, generator, &component);
    return {x, mixture_.labels().index_select(0, component)};
  }
  const GaussianMixture* mixture() const override { return &mixture_; }

 private:
  GaussianMixture mixture_;
};

}  // namespace diffuse

#endif  // DIFFUSE_DATA_MIXTURE_DATASET_H_
