#include "util/runtime.h"

#include <dlfcn.h>
#include <malloc.h>

#include <fstream>
#include <thread>

#include <glog/logging.h>
#include <ATen/Parallel.h>
#include <ATen/TensorOperators.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/ones.h>

namespace diffuse {

RuntimeInfo ConfigureRuntime(int blas_threads, int intra_op_threads) {
  RuntimeInfo info;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  info.blas_threads = blas_threads > 0 ? blas_threads : cores;
  info.intra_op_threads = intra_op_threads > 0 ? intra_op_threads : cores;
  at::set_num_threads(info.intra_op_threads);
  // glibc hands every freed block above its mmap threshold back to the kernel, so the large
  // activations of each step come back as fresh pages: page faults took 16-23% of a U-Net
  // training step (perf, 2 cores). Keep blocks up to 32 MiB (glibc's maximum) in the heap,
  // and do not trim it below 1 GiB.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // OpenBLAS reads OPENBLAS_NUM_THREADS only when it loads; set it through its API.
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(info.blas_threads);
  }
  // A small GEMM makes LibTorch load its BLAS.
  (void)at::mm(at::ones({64, 64}), at::ones({64, 64})).sum().item<float>();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (path.find("blas") == std::string::npos && path.find("mkl") == std::string::npos) continue;
    info.blas = path;
    if (path.find("openblas") != std::string::npos || path.find("mkl") != std::string::npos ||
        path.find("blis") != std::string::npos) {
      info.fast_blas = true;
      break;
    }
  }
  if (!info.fast_blas) {
    LOG(WARNING) << "slow BLAS in use (" << (info.blas.empty() ? "none found" : info.blas)
                 << "): install libopenblas0-pthread (tools/install_deps.sh does)";
  }
  return info;
}

}  // namespace diffuse
