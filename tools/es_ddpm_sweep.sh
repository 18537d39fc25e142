#!/usr/bin/env bash
# ES-DDPM with a real generator (issue 12, docs/diffusion_vae.md): trains the VAE of
# fashion_mnist_vae.pbtxt (VAE_STEPS steps), then samples N images from the VAE alone and
# from the U-Net of fashion_mnist_v.pbtxt started at T' in {100, 200, 400, 600} from the VAE's
# sample diffused to T' (DDIM, 50 steps per 1000, x0 clamped; fashion_mnist_es_ddpm.pbtxt),
# and the full process from N(0, I) (T' = 1000, 50 steps); each scored by the evaluation
# classifier (Frechet distance) and timed (2 intra-op threads).
#   N=500 VAE_STEPS=2000 bash tools/es_ddpm_sweep.sh UNET_DIR [OUT_DIR]
# UNET_DIR holds checkpoint.pt and the description it was trained from (UNET_DIR.pbtxt),
# e.g. out/fmnist_hour/uncond from tools/fashion_mnist_hour.sh; OUT_DIR default out/es_ddpm.
# Resumes after a kill (VAE training resumes; finished samples are kept).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
UNET="${1:?usage: bash tools/es_ddpm_sweep.sh UNET_DIR [OUT_DIR]}"
OUT="${2:-out/es_ddpm}"
N="${N:-500}"
VAE_STEPS="${VAE_STEPS:-2000}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

sed "s/^  steps: [0-9]*/  steps: $VAE_STEPS/" "$EX/fashion_mnist_vae.pbtxt" > "$OUT/vae.pbtxt"
"$DIFFUSE" train --pipeline="$OUT/vae.pbtxt" --out="$OUT/vae" --threads=1 --intra_op_threads=2 \
  >> "$OUT/train_vae.log" 2>&1
echo "vae: $(grep "^trained" "$OUT/train_vae.log" | paste -sd ";")" | tee -a "$summary"

sample_and_eval() {  # sample_and_eval NAME PIPELINE CHECKPOINT
  local start=$SECONDS
  if [[ ! -s "$OUT/$1.npy" ]]; then
    "$DIFFUSE" sample --pipeline="$2" --checkpoint="$3" --num="$N" --out="$OUT/$1.npy" \
      --png="$OUT/$1.png" --threads=1 --intra_op_threads=2 > /dev/null
    echo "== $1: $N samples in $((SECONDS - start)) s" | tee -a "$summary"
  fi
  echo "== $1" >> "$summary"
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$1.npy" \
    --threads=1 --intra_op_threads=2 | tee -a "$summary"
}
sample_and_eval vae "$OUT/vae.pbtxt" "$OUT/vae/checkpoint.pt"
for t in 100 200 400 600; do
  sed -e "s/^      num_steps: 600$/      num_steps: $t/" \
    -e "s/sampler { num_steps: 30 /sampler { num_steps: $((t / 20)) /" \
    -e "s|vae_pipeline: \".*\"|vae_pipeline: \"$OUT/vae.pbtxt\"|" \
    -e "s|vae_checkpoint: \".*\"|vae_checkpoint: \"$OUT/vae/checkpoint.pt\"|" \
    "$EX/fashion_mnist_es_ddpm.pbtxt" > "$OUT/es_$t.pbtxt"
  sample_and_eval "es_$t" "$OUT/es_$t.pbtxt" "$UNET/checkpoint.pt"
done
sample_and_eval full_1000 "$UNET.pbtxt" "$UNET/checkpoint.pt"
echo "wrote $summary and $OUT/*.png"
