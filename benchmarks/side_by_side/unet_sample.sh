#!/usr/bin/env bash
# U-Net inference side by side in one go: //benchmarks:unet_benchmark's BM_UNetForward and
# BM_UNetSample50Steps (C++) and the same U-Net forward and 50-step DDIM loop in Python with
# the same PyTorch (Debian's python3-torch 1.13.1), THREADS intra-op threads (default 2;
# BLAS 1), batch 64; forward: medians of 5 repetitions of >= 1 s; sampling: median of 3 runs.
#   bash benchmarks/side_by_side/unet_sample.sh [THREADS]
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
  --benchmark_filter='BM_UNetForward$|BM_UNetSample50Steps' --benchmark_repetitions=3 \
  --benchmark_min_time=1 --benchmark_format=json > "$out"
cd benchmarks/side_by_side
OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 /usr/bin/python3 unet_sample.py "$out" "$threads"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
