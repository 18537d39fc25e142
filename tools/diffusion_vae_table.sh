#!/usr/bin/env bash
# The Diffusion + VAE family in one table (issue 12 item 7, docs/diffusion_vae.md "One table"):
# every method on Fashion-MNIST with the same data and training budget (each diffusion
# network STEPS steps at batch 64, each autoencoder VAE_STEPS steps, 2 intra-op threads, one
# training at a time), scored alike: Frechet distance of N samples (evaluation classifier's
# features, one classifier for all), sampling time per image, a linear probe on each method's
# latent (PROBE_TRAIN training images, TEST test images; tools/linear_probe.py) and the
# reconstruction MSE of the TEST images from their code.
#   1. tools/latent_diffusion.sh OUT/latent_diffusion: the VAE, latent diffusion (global and
#      spatial code), the pixel U-Net (plain DDPM; DDIM 50 and DPM-Solver++(2M) 20), ES-DDPM
#      at T' = 600;
#   2. tools/diffusevae.sh: DiffuseVAE forms 1 and 2 on that VAE;
#   3. LRDM, InfoDiffusion and the Diffusion Autoencoder (+ its latent DDIM), each sampled
#      with DDIM 50, x0 clamped, like the pixel U-Net;
#   4. ES-DDPM's T' sweep from latent diffusion's start with the pixel U-Net;
#   5. codes, reconstructions and probes; then tools/diffusion_vae_table.py writes
#      OUT/table.md and OUT/samples.png (ten samples of each row).
#   N=500 STEPS=1400 VAE_STEPS=2000 PROBE_TRAIN=1000 TEST=500 bash tools/diffusion_vae_table.sh [OUT]
# OUT default out/diffusion_vae_table. Resumes after a kill (trainings resume from their
# checkpoints, finished files are kept); a fresh run takes about 3 hours on 2 cores.
# LD_DIR and DIFFUSEVAE_DIR (default OUT/latent_diffusion, OUT/diffusevae) reuse the two
# scripts' earlier outputs (a checkpoint remembers the paths in its description).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/diffusion_vae_table}"
export N="${N:-500}" STEPS="${STEPS:-1400}" VAE_STEPS="${VAE_STEPS:-2000}"
PROBE_TRAIN="${PROBE_TRAIN:-1000}"
TEST="${TEST:-500}"
EX="$PWD/pipeline/examples"
LD="${LD_DIR:-$OUT/latent_diffusion}"
DV="${DIFFUSEVAE_DIR:-$OUT/diffusevae}"
mkdir -p "$OUT/codes"
summary="$OUT/summary.txt"
machine_line >> "$summary"
T2=(--threads=1 --intra_op_threads=2)

PIXEL_STEPS="$STEPS" bash tools/latent_diffusion.sh "$LD"
bash tools/diffusevae.sh "$LD" "$DV"
mkdir -p "$OUT/classifier"
ln -sf "$(realpath "$LD/classifier/classifier.pt")" "$OUT/classifier/classifier.pt"

train() {  # train NAME EXAMPLE: OUT/NAME.pbtxt (STEPS steps, sampler DDIM 50 clamped), trained
  sed -e "s/^  steps: [0-9]*/  steps: $STEPS/" \
    -e "s/^sampler {.*/sampler { num_steps: 50 grid: TRAILING batch_size: 100 seed: 11 clip_x0: 1 }/" \
    -e "s|dir: \"out/fashion_mnist_diffae_latent\"|dir: \"$OUT/diffae_z\"|" \
    "$EX/$2.pbtxt" > "$OUT/$1.pbtxt"
  local start=$SECONDS
  "$DIFFUSE" train --pipeline="$OUT/$1.pbtxt" --out="$OUT/$1" "${T2[@]}" >> "$OUT/train_$1.log" 2>&1
  echo "$1: $((SECONDS - start)) s this run; $(grep -h "^trained" "$OUT/train_$1.log" | paste -sd ";")" \
    | tee -a "$summary"
}
train lrdm fashion_mnist_lrdm
train info_diffusion fashion_mnist_info_diffusion
train diffae fashion_mnist_diffae
start=$SECONDS
"$DIFFUSE" train-latent-prior --pipeline="$OUT/diffae.pbtxt" --checkpoint="$OUT/diffae/checkpoint.pt" \
  --split=train --indices=0:60000 "${T2[@]}" >> "$OUT/train_diffae_latent.log" 2>&1
echo "diffae_latent_model: $((SECONDS - start)) s this run; $(grep -h "^trained\|^encoded" "$OUT/train_diffae_latent.log" | paste -sd ";")" \
  | tee -a "$summary"
for name in lrdm info_diffusion diffae; do
  sample_and_eval "$name" "$name" "$name"
done

# ES-DDPM: the pixel U-Net refining latent diffusion's sample diffused to T' (T'/20 DDIM steps;
# sample_and_eval reads OUT/CHECKPOINT_DIR: the pixel U-Net through a link).
ln -sfn "$(realpath "$LD/pixel")" "$OUT/pixel"
for t in 200 400 800; do
  sed -e "s/^      num_steps: 600$/      num_steps: $t/" \
    -e "s/sampler { num_steps: 30 /sampler { num_steps: $((t / 20)) /" \
    -e "s|vae_pipeline: \".*\"|vae_pipeline: \"$LD/latent.pbtxt\"|" \
    -e "s|vae_checkpoint: \".*\"|vae_checkpoint: \"$LD/vae/checkpoint.pt\"|" \
    "$EX/fashion_mnist_es_ddpm.pbtxt" > "$OUT/es_${t}_latent.pbtxt"
  sample_and_eval "es_${t}_latent" "es_${t}_latent" pixel
done

# Codes: test images and labels, the probe's training labels.
/usr/bin/python3 - "$OUT/codes" "$TEST" "$PROBE_TRAIN" <<'PY'
import gzip, sys, numpy as np
out, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
d = "/usr/share/datasets/fashion-mnist/"
def read(name, offset, shape):
    with gzip.open(d + name) as f:
        return np.frombuffer(f.read()[offset:], np.uint8).reshape(shape)
x = read("t10k-images-idx3-ubyte.gz", 16, (-1, 1, 28, 28))[:n] / 127.5 - 1
np.save(out + "/test_images.npy", x.astype(np.float32))
np.save(out + "/test_labels.npy", read("t10k-labels-idx1-ubyte.gz", 8, (-1,))[:n].astype(np.float32))
np.save(out + "/train_labels.npy", read("train-labels-idx1-ubyte.gz", 8, (-1,))[:m].astype(np.float32))
PY
once() {  # once FILE COMMAND...: runs COMMAND unless FILE exists
  local file=$1
  shift
  [[ -s "$file" ]] || "$@" > /dev/null
}
codes() {  # codes NAME PIPELINE CHECKPOINT [encode flags]: z of PROBE_TRAIN train / TEST test images
  local name=$1 pipeline=$2 checkpoint=$3
  shift 3
  once "$OUT/codes/${name}_train.npy" "$DIFFUSE" encode --pipeline="$pipeline" --checkpoint="$checkpoint" \
    --split=train --indices=0:"$PROBE_TRAIN" --out="$OUT/codes/${name}_train.npy" "${T2[@]}" "$@"
  once "$OUT/codes/${name}_test.npy" "$DIFFUSE" encode --pipeline="$pipeline" --checkpoint="$checkpoint" \
    --split=test --indices=0:"$TEST" --out="$OUT/codes/${name}_test.npy" "${T2[@]}" "$@"
}
# Autoencoders: z = the mean of q(z | x0); the reconstruction decodes it once.
for vae in vae spatial_vae; do
  codes "$vae" "$LD/$vae.pbtxt" "$LD/$vae/checkpoint.pt"
  once "$OUT/codes/${vae}_recon.npy" "$DIFFUSE" decode --pipeline="$LD/$vae.pbtxt" \
    --checkpoint="$LD/$vae/checkpoint.pt" --latent="$OUT/codes/${vae}_test.npy" \
    --out="$OUT/codes/${vae}_recon.npy" --png="$OUT/codes/${vae}_recon.png" "${T2[@]}"
done
# Encoders of a diffusion decoder: z, then x_T by DDIM inversion given z, decoded back.
for model in diffae info_diffusion; do
  codes "$model" "$OUT/$model.pbtxt" "$OUT/$model/checkpoint.pt"
  once "$OUT/codes/${model}_xT_test.npy" "$DIFFUSE" encode --pipeline="$OUT/$model.pbtxt" \
    --checkpoint="$OUT/$model/checkpoint.pt" --split=test --indices=0:"$TEST" \
    --x_T_out="$OUT/codes/${model}_xT_test.npy" "${T2[@]}"
  once "$OUT/codes/${model}_recon.npy" "$DIFFUSE" decode --pipeline="$OUT/$model.pbtxt" \
    --checkpoint="$OUT/$model/checkpoint.pt" --latent="$OUT/codes/${model}_test.npy" \
    --x_T="$OUT/codes/${model}_xT_test.npy" --out="$OUT/codes/${model}_recon.npy" \
    --png="$OUT/codes/${model}_recon.png" "${T2[@]}"
done
# LRDM: z_t has no one value per image; probed at t = 0 and at t = 500 of 1000.
codes lrdm_t0 "$OUT/lrdm.pbtxt" "$OUT/lrdm/checkpoint.pt" --encoder_time=0
codes lrdm_t500 "$OUT/lrdm.pbtxt" "$OUT/lrdm/checkpoint.pt" --encoder_time=500
# Plain DDPM: its only code is x_T, the DDIM inversion (docs/diffae.md's baseline).
for split in train test; do
  n="$PROBE_TRAIN"
  [[ $split == test ]] && n="$TEST"
  once "$OUT/codes/pixel_$split.npy" "$DIFFUSE" encode --pipeline="$LD/pixel.pbtxt" \
    --checkpoint="$LD/pixel/checkpoint.pt" --split="$split" --indices=0:"$n" \
    --x_T_out="$OUT/codes/pixel_$split.npy" "${T2[@]}"
done
once "$OUT/codes/pixel_recon.npy" "$DIFFUSE" sample --pipeline="$LD/pixel.pbtxt" \
  --checkpoint="$LD/pixel/checkpoint.pt" --x_T="$OUT/codes/pixel_test.npy" \
  --out="$OUT/codes/pixel_recon.npy" --png="$OUT/codes/pixel_recon.png" "${T2[@]}"
: > "$OUT/probes.txt"
for code in vae spatial_vae diffae info_diffusion lrdm_t0 lrdm_t500 pixel; do
  /usr/bin/python3 tools/linear_probe.py "$code" "$OUT/codes/${code}_train.npy" \
    "$OUT/codes/train_labels.npy" "$OUT/codes/${code}_test.npy" "$OUT/codes/test_labels.npy" \
    | tee -a "$OUT/probes.txt"
done
/usr/bin/python3 tools/diffusion_vae_table.py "$OUT" "$LD" "$DV" | tee "$OUT/table.md"
echo "wrote $OUT/table.md, $OUT/samples.png and $summary"
