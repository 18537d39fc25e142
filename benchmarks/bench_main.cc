// main() for every benchmark: explicit threads (--threads for BLAS, --intra_op_threads for
// LibTorch; defaults as in the CLI), the loaded BLAS recorded in the benchmark context.
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "util/runtime.h"

int main(int argc, char** argv) {
  int blas_threads = 0, intra_op_threads = 1;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      blas_threads = std::atoi(argv[i] + 10);
    } else if (std::strncmp(argv[i], "--intra_op_threads=", 19) == 0) {
      intra_op_threads = std::atoi(argv[i] + 19);
    } else {
      rest.push_back(argv[i]);
    }
  }
  const diffuse::RuntimeInfo info = diffuse::ConfigureRuntime(blas_threads, intra_op_threads);
  benchmark::AddCustomContext("blas", info.blas);
  benchmark::AddCustomContext("blas_threads", std::to_string(info.blas_threads));
  benchmark::AddCustomContext("intra_op_threads", std::to_string(info.intra_op_threads));
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
