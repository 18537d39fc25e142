#!/usr/bin/env bash
# The Fashion-MNIST recipe comparison of docs/fashion_mnist.md ("Recipe"): the previous
# unconditional recipe (fashion_mnist_ddpm.pbtxt: eps, linear betas, constant lr) and the
# new one (fashion_mnist_v.pbtxt: v on the cosine schedule, min-SNR, cosine lr, EMA warm-up)
# trained side by side at equal time (STEPS steps each, batch 64, one intra-op thread each
# on the 2 cores), then N samples of each scored by the evaluation classifier's features:
# DDIM 50 steps (the previous recipe also with x0 clamped), and the new one with
# DPM-Solver++(2M) in 20 steps.
#   STEPS=1800 N=500 bash tools/fashion_mnist_recipe.sh [OUT_DIR]   (default out/fmnist_recipe)
# Resumes after a kill; the evaluation classifier is trained first if OUT_DIR has none.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/fmnist_recipe}"
N="${N:-500}"
STEPS="${STEPS:-1800}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line > "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

# Both descriptions at STEPS steps (the cosine schedule ends at the last step).
sed "s/^  steps: [0-9]*/  steps: $STEPS/" "$EX/fashion_mnist_ddpm.pbtxt" > "$OUT/previous.pbtxt"
sed "s/^  steps: [0-9]*/  steps: $STEPS/" "$EX/fashion_mnist_ddim.pbtxt" > "$OUT/previous_ddim.pbtxt"
sed -e "s/^  steps: [0-9]*/  steps: $STEPS/" -e 's/batch_size: 100 seed: 11 }/batch_size: 100 seed: 11 clip_x0: 1 }/' \
  "$EX/fashion_mnist_ddim.pbtxt" > "$OUT/previous_ddim_clip.pbtxt"
sed "s/^  steps: [0-9]*/  steps: $STEPS/" "$EX/fashion_mnist_v.pbtxt" > "$OUT/recipe.pbtxt"
sed "s/^  steps: [0-9]*/  steps: $STEPS/" "$EX/fashion_mnist_v_dpmpp.pbtxt" > "$OUT/recipe_dpmpp.pbtxt"

train() {  # train NAME
  "$DIFFUSE" train --pipeline="$OUT/$1.pbtxt" --out="$OUT/$1" --threads=1 \
    --intra_op_threads=1 > "$OUT/train_$1.log" 2>&1
  echo "$1: $(tail -n 1 "$OUT/train_$1.log")" | tee -a "$summary"
}
train previous & train recipe & wait

sample_and_eval() {  # sample_and_eval NAME PIPELINE CHECKPOINT_DIR
  local start=$SECONDS
  "$DIFFUSE" sample --pipeline="$OUT/$2.pbtxt" --checkpoint="$OUT/$3/checkpoint.pt" \
    --num="$N" --out="$OUT/$1.npy" --png="$OUT/$1.png" --threads=1 --intra_op_threads=2 > /dev/null
  echo "== $1: $N samples in $((SECONDS - start)) s" | tee -a "$summary"
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$1.npy" \
    --threads=1 --intra_op_threads=2 | tee -a "$summary"
}
sample_and_eval previous_ddim previous_ddim previous
sample_and_eval previous_ddim_clip previous_ddim_clip previous
sample_and_eval recipe_ddim recipe recipe
sample_and_eval recipe_dpmpp recipe_dpmpp recipe
echo "wrote $summary and $OUT/*.png"
