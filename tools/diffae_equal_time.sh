#!/usr/bin/env bash
# Unconditional generation at equal training time (docs/diffae.md, "Generation at equal
# time"): the Diffusion Autoencoder of pipeline/examples/fashion_mnist_diffae.pbtxt
# (autoencoder, then its latent DDIM, both stages counted) and the plain U-Net example
# (fashion_mnist_v.pbtxt) train side by side, one core each (one thread per command), so
# both get the same wall clock when PLAIN_STEPS matches the DiffAE's two stages; the summary
# gives each stream's seconds. Then N samples of each, scored by the evaluation classifier:
# the DiffAE with its own sampler (DDIM 100 trailing steps) and with x0_hat clamped, the
# plain U-Net with its own (DDIM 50, clamped) and on the DiffAE's 100-step grid.
#   N=500 DIFFAE_STEPS=1500 PLAIN_STEPS=2100 bash tools/diffae_equal_time.sh [OUT_DIR]
# (default out/diffae_equal_time). Resumes after a kill.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/diffae_equal_time}"
N="${N:-500}"
DIFFAE_STEPS="${DIFFAE_STEPS:-1500}"
PLAIN_STEPS="${PLAIN_STEPS:-2100}"
T1="--threads=1 --intra_op_threads=1"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

steps() { sed "s/^  steps: [0-9]*/  steps: $1/" "$2"; }
steps "$DIFFAE_STEPS" "$EX/fashion_mnist_diffae.pbtxt" |
  sed "s#dir: \"out/fashion_mnist_diffae_latent\"#dir: \"$OUT/latent\"#" > "$OUT/diffae.pbtxt"
sed 's/^sampler { num_steps: 100 grid: TRAILING batch_size: 100 seed: 11/& clip_x0: 1/' \
  "$OUT/diffae.pbtxt" > "$OUT/diffae_clip.pbtxt"
steps "$PLAIN_STEPS" "$EX/fashion_mnist_v.pbtxt" > "$OUT/plain.pbtxt"
sed 's/^sampler {.*/sampler { num_steps: 100 grid: TRAILING batch_size: 100 seed: 11 }/' \
  "$OUT/plain.pbtxt" > "$OUT/plain_100.pbtxt"

stream_diffae() {  # the autoencoder, then the latent DDIM on the codes of the training set
  local start=$SECONDS
  "$DIFFUSE" train --pipeline="$OUT/diffae.pbtxt" --out="$OUT/diffae" $T1 \
    >> "$OUT/train_diffae.log" 2>&1
  "$DIFFUSE" train-latent-prior --pipeline="$OUT/diffae.pbtxt" \
    --checkpoint="$OUT/diffae/checkpoint.pt" --split=train --indices=0:60000 $T1 \
    >> "$OUT/train_diffae.log" 2>&1
  echo "diffae stream: $((SECONDS - start)) s this run; $(grep "^trained" "$OUT/train_diffae.log" | paste -sd ";")" \
    >> "$summary"
}
stream_plain() {
  local start=$SECONDS
  "$DIFFUSE" train --pipeline="$OUT/plain.pbtxt" --out="$OUT/plain" $T1 \
    >> "$OUT/train_plain.log" 2>&1
  echo "plain stream: $((SECONDS - start)) s this run; $(grep "^trained" "$OUT/train_plain.log" | paste -sd ";")" \
    >> "$summary"
}
stream_diffae & a=$!
stream_plain & b=$!
wait "$a"
wait "$b"

sample_and_eval diffae_ddim100 diffae diffae
sample_and_eval diffae_ddim100_clip diffae_clip diffae
sample_and_eval plain_ddim50_clip plain plain
sample_and_eval plain_ddim100 plain_100 plain
echo "wrote $summary and $OUT/*.png"
