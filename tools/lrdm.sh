#!/usr/bin/env bash
# LRDM at image scale (docs/diffusion_vae.md, "LRDM"): pipeline/examples/fashion_mnist_lrdm.pbtxt
# (an encoder of (x0, t), one z_t per diffusion time, each reverse step conditioned on its own
# z_t ~ N(0, I) at generation) trained STEPS steps on one thread, then N samples (DDIM 50,
# x0 clamped) scored by the evaluation classifier; the KL terms are in OUT/lrdm/metrics.csv.
#   N=500 STEPS=1500 bash tools/lrdm.sh [OUT_DIR]   (default out/lrdm)
# Resumes after a kill.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/lrdm}"
N="${N:-500}"
STEPS="${STEPS:-1500}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"
sed "s/^  steps: [0-9]*/  steps: $STEPS/" pipeline/examples/fashion_mnist_lrdm.pbtxt > "$OUT/lrdm.pbtxt"
"$DIFFUSE" train --pipeline="$OUT/lrdm.pbtxt" --out="$OUT/lrdm" --threads=1 --intra_op_threads=1 \
  >> "$OUT/train.log" 2>&1
echo "lrdm: $(grep '^trained' "$OUT/train.log" | paste -sd ';')" >> "$summary"
tail -n 2 "$OUT/train.log" | head -n 1 >> "$summary"
sample_and_eval lrdm_ddim50 lrdm lrdm
