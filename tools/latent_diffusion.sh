#!/usr/bin/env bash
# Latent diffusion against pixel space (issue 12 item 6, docs/diffusion_vae.md): trains the
# autoencoder of fashion_mnist_latent_diffusion.pbtxt (VAE_STEPS steps; the VAE of
# fashion_mnist_vae.pbtxt), encodes the 60,000 training images and trains the diffusion
# model of their codes (`diffuse train-latent-prior`), then samples N images from the VAE
# alone (z ~ N(0, I)) and through the latent model (DDIM 50 steps on z, one decoder call);
# beside them, the pixel-space U-Net of fashion_mnist_v.pbtxt trained for PIXEL_STEPS steps
# (default 1400: about the two latent stages' time on the 2-core VM) and sampled with DDIM
# 50 steps and DPM-Solver++(2M) 20 steps, and ES-DDPM at T' = 600 with that U-Net from
# either start (the VAE's z ~ N(0, I) or latent diffusion's z); then the same two stages with
# a spatial code (fashion_mnist_latent_diffusion_spatial.pbtxt: z of 4 x 7 x 7, a U-Net over
# the codes), and the pixel U-Net again for EQUAL_STEPS steps (default 2400: about the
# spatial code's two stages). Every stage is timed (2 intra-op threads), every sample set
# scored by the evaluation classifier (Frechet distance).
#   N=500 VAE_STEPS=2000 PIXEL_STEPS=1400 EQUAL_STEPS=2400 bash tools/latent_diffusion.sh [OUT_DIR]
# OUT_DIR default out/latent_diffusion. Resumes after a kill (training resumes from its
# checkpoint; finished samples are kept).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/latent_diffusion}"
N="${N:-500}"
VAE_STEPS="${VAE_STEPS:-2000}"
PIXEL_STEPS="${PIXEL_STEPS:-1400}"
EQUAL_STEPS="${EQUAL_STEPS:-2400}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"
threads=(--threads=1 --intra_op_threads=2)

latent_description() {  # latent_description EXAMPLE NAME Z_DIR: OUT/NAME.pbtxt
  sed -e "s/^  steps: [0-9]*/  steps: $VAE_STEPS/" \
    -e "s|dir: \".*\"|dir: \"$OUT/$3\"|" "$EX/$1" > "$OUT/$2.pbtxt"
}
without_prior() {  # without_prior IN OUT: the autoencoder alone (z ~ N(0, I))
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys
text = open(sys.argv[1]).read()
start = text.index("prior {\n")
depth, i = 0, start
while True:
    if text[i] == "{": depth += 1
    elif text[i] == "}":
        depth -= 1
        if depth == 0: break
    i += 1
open(sys.argv[2], "w").write(text[:start] + text[i + 2:])
PY
}
latent_description fashion_mnist_latent_diffusion.pbtxt latent z
without_prior "$OUT/latent.pbtxt" "$OUT/vae.pbtxt"
latent_description fashion_mnist_latent_diffusion_spatial.pbtxt spatial_latent spatial_z
without_prior "$OUT/spatial_latent.pbtxt" "$OUT/spatial_vae.pbtxt"
sed -e "s/^  steps: [0-9]*/  steps: $PIXEL_STEPS/" "$EX/fashion_mnist_v.pbtxt" > "$OUT/pixel.pbtxt"
sed -e 's/reverse { name: "substitution" }/reverse { name: "dpmpp_2m" }/' \
  -e 's/num_steps: 50 grid: TRAILING/num_steps: 20 grid: KARRAS/' "$OUT/pixel.pbtxt" \
  > "$OUT/pixel_dpmpp.pbtxt"

timed() {  # timed NAME LOG COMMAND...: runs COMMAND, appends its output to LOG, logs the time
  local name=$1 log=$2 start=$SECONDS
  shift 2
  "$@" >> "$log" 2>&1
  echo "$name: $((SECONDS - start)) s this run; $(grep -h "^trained\|^encoded" "$log" | paste -sd ";")" \
    | tee -a "$summary"
}
timed vae "$OUT/train_vae.log" "$DIFFUSE" train --pipeline="$OUT/vae.pbtxt" --out="$OUT/vae" "${threads[@]}"
timed latent_model "$OUT/train_latent.log" "$DIFFUSE" train-latent-prior \
  --pipeline="$OUT/latent.pbtxt" --checkpoint="$OUT/vae/checkpoint.pt" --split=train \
  --indices=0:60000 "${threads[@]}"
timed pixel "$OUT/train_pixel.log" "$DIFFUSE" train --pipeline="$OUT/pixel.pbtxt" \
  --out="$OUT/pixel" "${threads[@]}"

sample_and_eval() {  # sample_and_eval NAME PIPELINE CHECKPOINT
  local start=$SECONDS
  if [[ ! -s "$OUT/$1.npy" ]]; then
    "$DIFFUSE" sample --pipeline="$2" --checkpoint="$3" --num="$N" --out="$OUT/$1.npy" \
      --png="$OUT/$1.png" "${threads[@]}" > /dev/null
    echo "== $1: $N samples in $((SECONDS - start)) s" | tee -a "$summary"
  fi
  echo "== $1" >> "$summary"
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$1.npy" \
    "${threads[@]}" | tee -a "$summary"
}
sample_and_eval vae "$OUT/vae.pbtxt" "$OUT/vae/checkpoint.pt"
sample_and_eval latent "$OUT/latent.pbtxt" "$OUT/vae/checkpoint.pt"
sample_and_eval pixel_ddim "$OUT/pixel.pbtxt" "$OUT/pixel/checkpoint.pt"
sample_and_eval pixel_dpmpp "$OUT/pixel_dpmpp.pbtxt" "$OUT/pixel/checkpoint.pt"
# ES-DDPM (T' = 600, 30 DDIM steps) with the pixel U-Net, started from the VAE alone and
# from latent diffusion.
for start in vae latent; do
  sed -e "s|vae_pipeline: \".*\"|vae_pipeline: \"$OUT/$start.pbtxt\"|" \
    -e "s|vae_checkpoint: \".*\"|vae_checkpoint: \"$OUT/vae/checkpoint.pt\"|" \
    "$EX/fashion_mnist_es_ddpm.pbtxt" > "$OUT/es_600_$start.pbtxt"
  sample_and_eval "es_600_$start" "$OUT/es_600_$start.pbtxt" "$OUT/pixel/checkpoint.pt"
done

# The spatial code: its autoencoder (sampled alone from z ~ N(0, I)) and the U-Net over its
# 4 x 7 x 7 codes.
timed spatial_vae "$OUT/train_spatial_vae.log" "$DIFFUSE" train \
  --pipeline="$OUT/spatial_vae.pbtxt" --out="$OUT/spatial_vae" "${threads[@]}"
timed spatial_latent_model "$OUT/train_spatial_latent.log" "$DIFFUSE" train-latent-prior \
  --pipeline="$OUT/spatial_latent.pbtxt" --checkpoint="$OUT/spatial_vae/checkpoint.pt" \
  --split=train --indices=0:60000 "${threads[@]}"
sample_and_eval spatial_vae "$OUT/spatial_vae.pbtxt" "$OUT/spatial_vae/checkpoint.pt"
sample_and_eval spatial_latent "$OUT/spatial_latent.pbtxt" "$OUT/spatial_vae/checkpoint.pt"

# Pixel space given the spatial code's time: the same U-Net as above for EQUAL_STEPS steps
# (about the spatial code's two stages on the 2-core VM), sampled by both samplers.
for sampler in "" _dpmpp; do
  sed -e "s/^  steps: [0-9]*/  steps: $EQUAL_STEPS/" "$OUT/pixel$sampler.pbtxt" > "$OUT/pixel_equal$sampler.pbtxt"
done
timed pixel_equal "$OUT/train_pixel_equal.log" "$DIFFUSE" train --pipeline="$OUT/pixel_equal.pbtxt" \
  --out="$OUT/pixel_equal" "${threads[@]}"
sample_and_eval pixel_equal_ddim "$OUT/pixel_equal.pbtxt" "$OUT/pixel_equal/checkpoint.pt"
sample_and_eval pixel_equal_dpmpp "$OUT/pixel_equal_dpmpp.pbtxt" "$OUT/pixel_equal/checkpoint.pt"
echo "wrote $summary and $OUT/*.png"
