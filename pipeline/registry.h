// Components by name.
//
// Usage (one implementation = one target, alwayslink = 1):
//   1. Define its options message in a .proto beside it (proto2, documented defaults).
//   2. Implement the concept's interface in a .cc (anonymous namespace).
//   3. Write a factory: absl::StatusOr<std::unique_ptr<Interface>>(const Options&,
//      const BuildContext&), which checks option ranges and returns INVALID_ARGUMENT
//      naming the option. (A concept built from something else than BuildContext names it
//      as Interface::Context, e.g. TrainingObjective's TrainingComponents.)
//   4. As the file's last statement:
//        DIFFUSE_REGISTER_COMPONENT(ForwardProcess, "gaussian_vp", GaussianVpOptions,
//                                   MakeGaussianVp);
// Descriptions then name it. An unknown name is NOT_FOUND listing what is registered.
#ifndef DIFFUSE_PIPELINE_REGISTRY_H_
#define DIFFUSE_PIPELINE_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "pipeline/build_context.h"
#include "pipeline/pipeline.pb.h"

namespace diffuse {

// What factories of `Interface` receive besides their options: BuildContext, or the
// interface's own Context type.
template <typename Interface, typename = void>
struct FactoryContext {
  using type = BuildContext;
};
template <typename Interface>
struct FactoryContext<Interface, std::void_t<typename Interface::Context>> {
  using type = typename Interface::Context;
};

template <typename Interface>
class Registry {
 public:
  using Result = absl::StatusOr<std::unique_ptr<Interface>>;
  using Context = typename FactoryContext<Interface>::type;

  static Registry& Global() {
    static Registry* registry = new Registry;
    return *registry;
  }

  template <typename Options>
  bool Register(const std::string& name,
                std::function<Result(const Options&, const Context&)> factory) {
    entries_[name] = Entry{
        Options::descriptor()->full_name(),
        [factory](const ComponentSpec& spec, const std::string& where,
                  const Context& context) -> Result {
          Options options;
          if (spec.has_options() && !spec.options().UnpackTo(&options)) {
            return absl::InvalidArgumentError(absl::StrCat(
                where, ".options: '", spec.name(), "' takes ",
                Options::descriptor()->full_name(), ", got ", spec.options().type_url()));
          }
          return factory(options, context);
        }};
    return true;
  }

  // Builds the component `spec` names; `field` is its path in the description (for errors).
  Result Create(const ComponentSpec& spec, absl::string_view field,
                const Context& context) const {
    const std::string where(field);
    if (spec.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".name is empty; registered: ", absl::StrJoin(Names(), ", ")));
    }
    auto it = entries_.find(spec.name());
    if (it == entries_.end()) {
      return absl::NotFoundError(absl::StrCat(where, ".name: unknown component '",
                                              spec.name(), "'; registered: ",
                                              absl::StrJoin(Names(), ", ")));
    }
    Result result = it->second.create(spec, where, context);
    if (!result.ok() && !absl::StartsWith(result.status().message(), where)) {
      return absl::Status(result.status().code(),
                          absl::StrCat(where, " '", spec.name(), "': ",
                                       result.status().message()));
    }
    return result;
  }

  bool Contains(const std::string& name) const { return entries_.count(name) > 0; }

  // The options message type a name takes, e.g. "diffuse.GaussianVpOptions".
  std::string OptionsType(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? "" : it->second.options_type;
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> names;
    for (const auto& entry : entries_) names.push_back(entry.first);
    return names;
  }

 private:
  struct Entry {
    std::string options_type;
    std::function<Result(const ComponentSpec&, const std::string&, const Context&)> create;
  };
  std::map<std::string, Entry> entries_;
};

#define DIFFUSE_REGISTRY_CONCAT_INNER_(a, b) a##b
#define DIFFUSE_REGISTRY_CONCAT_(a, b) DIFFUSE_REGISTRY_CONCAT_INNER_(a, b)

// Registers `factory` as the implementation of `Interface` called `name`.
#define DIFFUSE_REGISTER_COMPONENT(Interface, name, Options, factory)             \
  static const bool DIFFUSE_REGISTRY_CONCAT_(diffuse_registered_, __COUNTER__) = \
      ::diffuse::Registry<Interface>::Global().Register<Options>(                 \
          name, std::function<::diffuse::Registry<Interface>::Result(             \
                    const Options&, const ::diffuse::Registry<Interface>::Context&)>(factory))

}  // namespace diffuse

#endif  // DIFFUSE_PIPELINE_REGISTRY_H_
