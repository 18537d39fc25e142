#!/usr/bin/env bash
# Data-parallel training step at 1 and 2 local ranks, same global batch: the U-Net example
# (pipeline/examples/fashion_mnist_v.pbtxt), STEPS steps per run. Reports the
# rate over the run (steps/s, from metrics.csv), the share of the run spent
# in gradient all-reduces and the bytes each rank sends per step. On this 2-core machine the
# ranks share the two cores one process can use, so 2 ranks cannot beat 1: the figure shows
# the cost of the all-reduce, not a speed-up.
#   bash benchmarks/data_parallel.sh [OUT]      (default out/data_parallel_benchmark; STEPS=40)
set -euo pipefail
source "$(dirname "$0")/../tools/lib.sh"  # DIFFUSE, machine_line (cd to the repository)
OUT="${1:-out/data_parallel_benchmark}"
STEPS="${STEPS:-40}"
rm -rf "$OUT"
mkdir -p "$OUT"
sed -e "s/^  steps: [0-9]*/  steps: $STEPS/" -e 's/log_every: [0-9]*/log_every: 10/' \
    -e 's/checkpoint_every: [0-9]*/checkpoint_every: 100000/' \
    pipeline/examples/fashion_mnist_v.pbtxt > "$OUT/pipeline.pbtxt"
summary="$OUT/summary.txt"
machine_line | tee "$summary"
batch=$(sed -n '/^training {/,/^}/p' "$OUT/pipeline.pbtxt" | grep -o 'batch_size: [0-9]*' | cut -d' ' -f2)
echo "U-Net fashion_mnist_v, global batch $batch, $STEPS steps per run" | tee -a "$summary"
run() {  # run NAME RANKS THREADS: THREADS intra-op threads per rank
  local name="$1" ranks="$2" threads="$3"
  if ((ranks == 1)); then
    "$DIFFUSE" train --pipeline="$OUT/pipeline.pbtxt" --out="$OUT/$name" --threads=1 \
      --intra_op_threads="$threads" > "$OUT/$name.log" 2>&1
  else
    DIFFUSE="$DIFFUSE" bash tools/launch.sh "$ranks" train --pipeline="$OUT/pipeline.pbtxt" \
      --out="$OUT/$name" --threads=1 --intra_op_threads="$threads" > "$OUT/$name.log" 2>&1
  fi
  local rate
  rate=$(tail -n 1 "$OUT/$name/metrics.csv" | cut -d, -f3)
  printf '%-34s %6s steps/s  %s\n' "$ranks rank(s) x $threads thread(s)" "$rate" \
    "$(grep -o 'all-reduce .*' "$OUT/$name.log" | head -n 1)" | tee -a "$summary"
}
run one_1 1 1
run one_2 1 2
run two_1 2 1
