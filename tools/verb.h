// A verb of the diffuse CLI. Each lives in its own file (tools/<verb>_command.cc) and
// registers itself with DIFFUSE_REGISTER_VERB; diffuse.cc dispatches by name, so adding a
// verb is its file plus a line in tools/BUILD's `commands`.
#ifndef DIFFUSE_TOOLS_VERB_H_
#define DIFFUSE_TOOLS_VERB_H_

#include <vector>

#include "absl/status/status.h"

namespace diffuse {

struct Verb {
  const char* name;
  absl::Status (*run)();  // reads its own flags
  bool trains;            // the CLI prints the BLAS library and thread counts first
};

// Adds `verb` (at static initialization); returns true so that it can initialize a constant.
bool RegisterVerb(const Verb& verb);

// Every linked verb, sorted by name.
std::vector<Verb> RegisteredVerbs();

}  // namespace diffuse

#define DIFFUSE_REGISTER_VERB(name, run, trains) \
  static const bool diffuse_verb_##run = ::diffuse::RegisterVerb({name, run, trains})

#endif  // DIFFUSE_TOOLS_VERB_H_
