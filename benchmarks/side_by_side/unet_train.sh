#!/usr/bin/env bash
# U-Net training throughput side by side in one go: //benchmarks:unet_benchmark's
# BM_UNetTrainingStep (C++) and the same U-Net and step in Python with the same PyTorch
# (Debian's python3-torch 1.13.1), the same threads (THREADS intra-op, default 2; BLAS 1),
# batch 64, medians of 5 repetitions of >= 1 s each after a warm-up step; plus the fraction
# of the measured GEMM / conv peak reached.
#   bash benchmarks/side_by_side/unet_train.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads="${1:-2}"
bash tools/install_deps.sh
dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >&2
}
bazel build //benchmarks:unet_benchmark
out=$(mktemp --suffix=.json)
bazel-bin/benchmarks/unet_benchmark --intra_op_threads="$threads" --threads=1 \
  --benchmark_filter=BM_UNetTrainingStep --benchmark_repetitions=5 --benchmark_min_time=1 \
  --benchmark_format=json > "$out"
OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 /usr/bin/python3 benchmarks/side_by_side/unet_train.py "$out" "$threads"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
