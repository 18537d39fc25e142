// Process set-up for binaries: thread count set explicitly, and a check of which BLAS
// LibTorch will use (Debian's reference BLAS is 25-37x slower than OpenBLAS for GEMM).
#ifndef DIFFUSE_UTIL_RUNTIME_H_
#define DIFFUSE_UTIL_RUNTIME_H_

#include <string>

namespace diffuse {

struct RuntimeInfo {
  int blas_threads = 0;
  int intra_op_threads = 0;
  std::string blas;  // resolved path of the loaded BLAS library
  bool fast_blas = false;
};

// Sets the BLAS threads (<= 0: all cores) and LibTorch's intra-op (OpenMP) threads, forces
// BLAS to load and reports it; logs a warning when only the reference BLAS is present.
//
// Both pools busy-wait, so on a small machine they must not both be wide: measured on
// 2 cores (MLP 128x3, batch 512, train step), 1 intra-op + 2 BLAS threads ran at 111 steps/s,
// 2 + 2 at 33 steps/s, 2 + 1 at 73 steps/s. Convolution-heavy models (oneDNN uses the
// intra-op pool) want more intra-op threads instead.
RuntimeInfo ConfigureRuntime(int blas_threads, int intra_op_threads);

}  // namespace diffuse

#endif  // DIFFUSE_UTIL_RUNTIME_H_
