#!/usr/bin/env bash
# Side by side in one go: our reverse steps (C++, //benchmarks:reverse_benchmark) and the
# same steps in Python with the same PyTorch (Debian's python3-torch 1.13.1), THREADS intra-op
# threads each (default 1; BLAS 1), medians of 5 repetitions. Prints the Python / C++ time
# ratio per case.
#   bash benchmarks/side_by_side/run.sh [THREADS]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/install_deps.sh
dpkg-query -W -f='${Status}' python3-torch 2>/dev/null | grep -q "install ok installed" || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch >&2
}
threads="${1:-1}"
bazel build //benchmarks:reverse_benchmark
out=$(mktemp --suffix=.json)
bazel-bin/benchmarks/reverse_benchmark --intra_op_threads="$threads" --threads=1 \
  --benchmark_filter='kSubstitution|kDdpm|kDpmpp2m' --benchmark_repetitions=5 \
  --benchmark_report_aggregates_only=true --benchmark_format=json > "$out"
OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS=1 /usr/bin/python3 benchmarks/side_by_side/reverse_step.py "$out" "$threads"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
