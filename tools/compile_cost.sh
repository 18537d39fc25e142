#!/usr/bin/env bash
# What one translation unit pays for each LibTorch header, and test sources at -O2 vs -O1:
# the figures behind the README's "Build and test time". Each line is one `g++ -c` of a
# file, with the project's flags (.bazelrc): the median of 3 compiles (REPEATS), run alone;
# run it on an idle machine.
#   bash tools/compile_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //models:unet_test //reverse:sampler_test > /dev/null 2>&1  # generated .pb.h
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flags=(-std=c++17 -fPIC -Wno-deprecated-declarations -DAT_PER_OPERATOR_HEADERS
       -iquote . -iquote bazel-bin -isystem /usr/include/torch/csrc/api/include)
repeats=${REPEATS:-3}
seconds() {  # seconds OPT FILE: the median wall time of `repeats` compiles
  local times=() start ms
  for _ in $(seq "$repeats"); do
    start=$(date +%s%N)
    g++ "${flags[@]}" "$1" -c "$2" -o "$tmp/out.o"
    times+=($((($(date +%s%N) - start) / 1000000)))
  done
  ms=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((repeats + 1) / 2))p")
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for header in torch/torch.h torch/types.h torch/nn/module.h ATen/ATen.h ATen/core/Tensor.h; do
  echo "#include <$header>" > "$tmp/one.cc"
  printf '%-40s %6s s\n' "-O2, #include <$header> alone" "$(seconds -O2 "$tmp/one.cc")"
done
for test in models/unet_test.cc reverse/sampler_test.cc; do
  for opt in -O2 -O1; do
    printf '%-40s %6s s\n' "$opt $test" "$(seconds "$opt" "$test")"
  done
done
