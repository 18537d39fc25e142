#!/usr/bin/env bash
# One Fashion-MNIST example at image scale (docs/diffusion_vae.md: "LRDM", "InfoDiffusion"):
# pipeline/examples/fashion_mnist_NAME.pbtxt trained STEPS steps on one thread into
# OUT/NAME, then N samples with the example's sampler (DDIM 50, x0 clamped for both) scored
# by the evaluation classifier; the training's terms (KL, MMD, the ELBO's) are in
# OUT/NAME/metrics.csv.
#   N=500 STEPS=1500 bash tools/train_and_score.sh lrdm [OUT_DIR]            (default out/lrdm)
#   N=500 STEPS=1500 bash tools/train_and_score.sh info_diffusion [OUT_DIR]
# Resumes after a kill.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
NAME="$1"
OUT="${2:-out/$NAME}"
N="${N:-500}"
STEPS="${STEPS:-1500}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"
sed "s/^  steps: [0-9]*/  steps: $STEPS/" "pipeline/examples/fashion_mnist_$NAME.pbtxt" \
  > "$OUT/$NAME.pbtxt"
"$DIFFUSE" train --pipeline="$OUT/$NAME.pbtxt" --out="$OUT/$NAME" --threads=1 \
  --intra_op_threads=1 >> "$OUT/train.log" 2>&1
echo "$NAME: $(grep '^trained' "$OUT/train.log" | paste -sd ';')" >> "$summary"
tail -n 2 "$OUT/train.log" | head -n 1 >> "$summary"
sample_and_eval "${NAME}_ddim50" "$NAME" "$NAME"
