// The few operations on a network that the assembly layer and the components reading trained
// descriptions need, declared without <torch/nn/module.h>: that header pulls in all of ATen
// and the TorchScript archive (about 10 s of compile time in every file that includes it),
// while these files only convert, freeze or group networks.
#ifndef DIFFUSE_MODELS_MODULE_OPS_H_
#define DIFFUSE_MODELS_MODULE_OPS_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace diffuse {

// module.to(type): parameters and buffers in `type`.
void ConvertModule(torch::nn::Module& module, at::ScalarType type);

// module.eval().
void SetEvalMode(torch::nn::Module& module);

// The type of the module's first parameter (its weights' type).
at::ScalarType WeightsType(torch::nn::Module& module);

// requires_grad = false on every parameter: read frozen, differentiated in the input only.
void FreezeModule(torch::nn::Module& module);

// A module named `name` holding `parts` as submodules (checkpoint keys "<part>.<...>"),
// which it does not own: the caller keeps them alive as long as the group.
std::shared_ptr<torch::nn::Module> GroupModules(
    const std::string& name, const std::vector<std::pair<std::string, torch::nn::Module*>>& parts);

// A non-owning handle to `module` (its owner outlives the handle).
std::shared_ptr<torch::nn::Module> Unowned(torch::nn::Module& module);

}  // namespace diffuse

#endif  // DIFFUSE_MODELS_MODULE_OPS_H_
