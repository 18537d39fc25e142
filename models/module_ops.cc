#include "models/module_ops.h"

#include <torch/nn/module.h>

namespace diffuse {

void ConvertModule(torch::nn::Module& module, at::ScalarType type) { module.to(type); }

void SetEvalMode(torch::nn::Module& module) { module.eval(); }

at::ScalarType WeightsType(torch::nn::Module& module) {
  return module.parameters().front().scalar_type();
}

void FreezeModule(torch::nn::Module& module) {
  for (at::Tensor& param : module.parameters()) param.set_requires_grad(false);
}

std::shared_ptr<torch::nn::Module> Unowned(torch::nn::Module& module) {
  return std::shared_ptr<torch::nn::Module>(std::shared_ptr<void>(), &module);
}

std::shared_ptr<torch::nn::Module> GroupModules(
    const std::string& name,
    const std::vector<std::pair<std::string, torch::nn::Module*>>& parts) {
  auto group = std::make_shared<torch::nn::Module>(name);
  for (const auto& [part, module] : parts) group->register_module(part, Unowned(*module));
  return group;
}

}  // namespace diffuse
