# Sourced first by the experiment scripts in tools/ (after `set -euo pipefail`): from the
# repository root, installs what is missing, builds the CLI, and gives what every script
# repeats.
#   DIFFUSE        the built CLI
#   machine_line   "machine: N cores, CPU model", the first line of every summary
#   ensure_classifier DIR   trains the evaluation classifier into DIR unless DIR has one
#   sample_and_eval NAME PIPELINE CHECKPOINT_DIR [sample flags...]
#                  N samples of OUT/PIPELINE.pbtxt with OUT/CHECKPOINT_DIR/checkpoint.pt into
#                  OUT/NAME.npy (kept if present) and .png, scored by OUT/classifier, both
#                  appended to $summary (the script sets OUT, N and summary); it samples
#                  with SAMPLE_THREADS intra-op threads (default 2; 1 beside a training run,
#                  where 2 would oversubscribe the 2 cores)
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

sample_and_eval() {
  local name=$1 pipeline=$2 checkpoint=$3 start=$SECONDS
  shift 3
  if [[ ! -s "$OUT/$name.npy" ]]; then
    "$DIFFUSE" sample --pipeline="$OUT/$pipeline.pbtxt" --checkpoint="$OUT/$checkpoint/checkpoint.pt" \
      --num="$N" --out="$OUT/$name.npy" --png="$OUT/$name.png" --threads=1 \
      --intra_op_threads="${SAMPLE_THREADS:-2}" \
      "$@" > /dev/null
    echo "== $name: $N samples in $((SECONDS - start)) s" | tee -a "$summary"
  fi
  echo "== $name" >> "$summary"
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$name.npy" \
    --threads=1 --intra_op_threads=2 | tee -a "$summary"
}
