# Sourced first by the experiment scripts in tools/ (after `set -euo pipefail`): from the
# repository root, installs what is missing, builds the CLI, and gives what every script
# repeats.
#   DIFFUSE        the built CLI
#   machine_line   "machine: N cores, CPU model", the first line of every summary
#   ensure_classifier DIR   trains the evaluation classifier into DIR unless DIR has one
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/install_deps.sh
bazel build //tools:diffuse
DIFFUSE="$PWD/bazel-bin/tools/diffuse"

machine_line() {
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
}

ensure_classifier() {
  [[ -s "$1/classifier.pt" ]] ||
    "$DIFFUSE" train-classifier --out="$1" --threads=1 --intra_op_threads=2
}
