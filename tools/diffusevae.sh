#!/usr/bin/env bash
# DiffuseVAE at image scale (issue 12 item 3, docs/diffusion_vae.md): forms 1
# (fashion_mnist_diffusevae.pbtxt: the U-Net sees x_hat as an input channel) and 2
# (fashion_mnist_diffusevae_shifted.pbtxt: forward shifted around x_hat), each trained for
# STEPS steps on the reconstructions of the VAE that tools/latent_diffusion.sh trained in
# LD_DIR, then N samples of each from two starts: the VAE alone (z ~ N(0, I)) and latent
# diffusion (z from the model of the codes), DDIM 50 steps, scored by LD_DIR's evaluation
# classifier (Frechet distance) and timed (2 intra-op threads). Controllability: how often
# the classifier gives a refined sample the class of the x_hat it was refined from
# (`sample` writes x_hat beside the samples as NAME_x_hat.npy; eval --same_class_as).
#   N=500 STEPS=1400 bash tools/diffusevae.sh [LD_DIR] [OUT_DIR]
# LD_DIR default out/latent_diffusion, OUT_DIR default out/diffusevae. Resumes after a kill.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
LD="${1:-out/latent_diffusion}"
OUT="${2:-out/diffusevae}"
N="${N:-500}"
STEPS="${STEPS:-1400}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
threads=(--threads=1 --intra_op_threads=2)
for f in "$LD/vae.pbtxt" "$LD/latent.pbtxt" "$LD/vae/checkpoint.pt" "$LD/classifier/classifier.pt"; do
  [[ -s "$f" ]] || { echo "$f is missing: run tools/latent_diffusion.sh $LD first" >&2; exit 1; }
done

describe() {  # describe EXAMPLE VAE_PIPELINE > FILE: the example on LD's VAE, STEPS steps
  sed -e "s/^  steps: [0-9]*/  steps: $STEPS/" \
    -e "s|vae_pipeline: \".*\"|vae_pipeline: \"$2\"|" \
    -e "s|vae_checkpoint: \".*\"|vae_checkpoint: \"$LD/vae/checkpoint.pt\"|" "$EX/$1.pbtxt"
}
for form in 1 2; do
  example=fashion_mnist_diffusevae
  [[ $form == 2 ]] && example=fashion_mnist_diffusevae_shifted
  describe "$example" "$LD/vae.pbtxt" > "$OUT/form$form.pbtxt"
  describe "$example" "$LD/latent.pbtxt" > "$OUT/form${form}_latent.pbtxt"
  "$DIFFUSE" train --pipeline="$OUT/form$form.pbtxt" --out="$OUT/form$form" "${threads[@]}" \
    >> "$OUT/train_form$form.log" 2>&1
  echo "form $form: $(grep "^trained" "$OUT/train_form$form.log" | paste -sd ";")" | tee -a "$summary"
  for start in "form$form" "form${form}_latent"; do
    begin=$SECONDS
    if [[ ! -s "$OUT/$start.npy" || ! -s "$OUT/${start}_x_hat.npy" ]]; then
      "$DIFFUSE" sample --pipeline="$OUT/$start.pbtxt" --checkpoint="$OUT/form$form/checkpoint.pt" \
        --num="$N" --out="$OUT/$start.npy" --png="$OUT/$start.png" "${threads[@]}" > /dev/null
      echo "== $start: $N samples in $((SECONDS - begin)) s" | tee -a "$summary"
    fi
    echo "== $start" >> "$summary"
    "$DIFFUSE" eval --classifier="$LD/classifier/classifier.pt" --samples="$OUT/$start.npy" \
      --same_class_as="$OUT/${start}_x_hat.npy" "${threads[@]}" | tee -a "$summary"
  done
done
echo "wrote $summary and $OUT/*.png"
