#include "tools/verb.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace diffuse {
namespace {

// Function-local, so that registration from other files' static initializers finds it built.
std::vector<Verb>& Verbs() {
  static auto* verbs = new std::vector<Verb>();
  return *verbs;
}

}  // namespace

bool RegisterVerb(const Verb& verb) {
  Verbs().push_back(verb);
  return true;
}

std::vector<Verb> RegisteredVerbs() {
  std::vector<Verb> verbs = Verbs();
  std::sort(verbs.begin(), verbs.end(),
            [](const Verb& a, const Verb& b) { return std::strcmp(a.name, b.name) < 0; });
  return verbs;
}

}  // namespace diffuse
