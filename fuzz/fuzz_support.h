// What the libFuzzer targets share: readers that take a path get the input through a file
// (one per process, rewritten for every input).
#ifndef DIFFUSE_FUZZ_FUZZ_SUPPORT_H_
#define DIFFUSE_FUZZ_FUZZ_SUPPORT_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace diffuse {

inline std::string WriteFuzzInput(const uint8_t* data, size_t size, const char* suffix) {
  static const std::string path =
      "/tmp/diffuse_fuzz_" + std::to_string(::getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f != nullptr) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

}  // namespace diffuse

#endif  // DIFFUSE_FUZZ_FUZZ_SUPPORT_H_
