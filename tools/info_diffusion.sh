#!/usr/bin/env bash
# InfoDiffusion at image scale (docs/diffusion_vae.md, "InfoDiffusion"):
# pipeline/examples/fashion_mnist_info_diffusion.pbtxt (one z per image from a deterministic
# encoder, the diffusion loss + MMD^2(q(z), N(0, I)), generation from z ~ N(0, I)) trained
# STEPS steps on one thread, then N samples (DDIM 50, x0 clamped) scored by the evaluation
# classifier; the MMD and the ELBO's terms are in OUT/info_diffusion/metrics.csv.
#   N=500 STEPS=1500 bash tools/info_diffusion.sh [OUT_DIR]   (default out/info_diffusion)
# Resumes after a kill.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/info_diffusion}"
N="${N:-500}"
STEPS="${STEPS:-1500}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"
sed "s/^  steps: [0-9]*/  steps: $STEPS/" pipeline/examples/fashion_mnist_info_diffusion.pbtxt \
  > "$OUT/info_diffusion.pbtxt"
"$DIFFUSE" train --pipeline="$OUT/info_diffusion.pbtxt" --out="$OUT/info_diffusion" --threads=1 \
  --intra_op_threads=1 >> "$OUT/train.log" 2>&1
echo "info_diffusion: $(grep '^trained' "$OUT/train.log" | paste -sd ';')" >> "$summary"
tail -n 2 "$OUT/train.log" | head -n 1 >> "$summary"
sample_and_eval info_diffusion_ddim50 info_diffusion info_diffusion
