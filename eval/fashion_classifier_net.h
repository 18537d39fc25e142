// The evaluation classifier's network (eval/fashion_classifier.h reads and trains it);
// included only where the network itself is built, so that its readers need not parse
// the LibTorch module headers.
#ifndef DIFFUSE_EVAL_FASHION_CLASSIFIER_NET_H_
#define DIFFUSE_EVAL_FASHION_CLASSIFIER_NET_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "eval/fashion_classifier.h"

namespace diffuse {

// conv(1->16) maxpool | conv(16->32) maxpool | conv(32->64) | linear(3136->128) = features
// | dropout | linear(128->10); 3x3 convolutions, ReLU after each and after the features.
// Small on purpose: ~5 MFLOP per image, so it trains in minutes on two cores.
class FashionClassifierImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kFeatures = kFashionClassifierFeatures;
  FashionClassifierImpl();
  at::Tensor Features(const at::Tensor& x);  // x [B, 1, 28, 28] in [-1, 1] -> [B, 128]
  at::Tensor Logits(const at::Tensor& features);  // -> [B, 10] (dropout when training)
  at::Tensor forward(const at::Tensor& x) { return Logits(Features(x)); }

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::Linear feature_{nullptr}, head_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(FashionClassifier);

}  // namespace diffuse

#endif  // DIFFUSE_EVAL_FASHION_CLASSIFIER_NET_H_
