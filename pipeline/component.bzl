"""diffuse_component: one registered component in one BUILD entry.

A component (a forward operator, x0-predictor, prior, reverse conditional, guidance term,
encoder or dataset) is a library that registers itself by name when linked, so it is
`alwayslink` and depends on the registry. When it has an options message of its own,
`options` names the .proto and the macro also declares `<name>_proto` and
`<name>_cc_proto` (the generated header is `<package>/<options without .proto>.pb.h`).
Components that share an options file list its cc_proto in `deps` instead.
"""

def diffuse_component(
        name,
        srcs = None,
        hdrs = [],
        options = None,
        options_deps = [],
        deps = [],
        **kwargs):
    """Declares a component library, and its options proto when `options` is given.

    Args:
      name: the library's name; the sources default to `<name>.cc`.
      srcs: C++ sources (default [name + ".cc"]).
      hdrs: headers others may include (most components have none).
      options: the component's own options .proto, if any.
      options_deps: proto_library targets the options .proto imports.
      deps: C++ dependencies besides the registry and the options' cc_proto.
      **kwargs: passed to cc_library (testonly, visibility, ...).
    """
    all_deps = list(deps)
    if "//pipeline:registry" not in all_deps:
        all_deps.append("//pipeline:registry")
    if options:
        native.proto_library(
            name = name + "_proto",
            srcs = [options],
            deps = options_deps,
        )
        native.cc_proto_library(
            name = name + "_cc_proto",
            deps = [":" + name + "_proto"],
        )
        all_deps.append(":" + name + "_cc_proto")
    native.cc_library(
        name = name,
        srcs = srcs if srcs != None else [name + ".cc"],
        hdrs = hdrs,
        alwayslink = 1,
        deps = all_deps,
        **kwargs
    )
