#!/usr/bin/env bash
# Diffusion Autoencoders on Fashion-MNIST (docs/diffae.md): trains the autoencoder of
# pipeline/examples/fashion_mnist_diffae.pbtxt (semantic encoder + U-Net decoder, jointly),
# then its latent DDIM on the encoded training set, and reruns every figure:
#   - unconditional generation through the latent DDIM: Frechet distance of the eval
#     classifier's features (n = N);
#   - reconstruction of N test images with the inferred x_T (DDIM inversion) and with a
#     random x_T: MSE, and eval-classifier accuracy against the true labels;
#   - pictures: stochastic variations, interpolations (with the plain-DDIM baseline),
#     attribute manipulation with the fraction of edits the classifier assigns to the
#     target class at each scale.
#   N=500 bash tools/diffae_experiments.sh [OUT_DIR]     (default out/diffae_experiments)
# Everything resumes after a kill. The evaluation classifier and the plain baseline are
# reused from tools/fashion_mnist_recipe.sh's output when present (CLASSIFIER, BASELINE_DIR),
# else trained here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/diffae_experiments}"
N="${N:-500}"
CLASSIFIER="${CLASSIFIER:-out/fmnist_recipe/classifier/classifier.pt}"
BASELINE_DIR="${BASELINE_DIR:-out/fmnist_recipe}"
T1="--threads=1 --intra_op_threads=2"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line > "$summary"
if [[ ! -s "$CLASSIFIER" ]]; then
  CLASSIFIER="$OUT/classifier/classifier.pt"
  ensure_classifier "$OUT/classifier"
fi
if [[ ! -s "$BASELINE_DIR/recipe/checkpoint.pt" ]]; then
  BASELINE_DIR="$OUT/baseline"
  mkdir -p "$BASELINE_DIR"
  cp pipeline/examples/fashion_mnist_v.pbtxt "$BASELINE_DIR/recipe.pbtxt"
  "$DIFFUSE" train --pipeline="$BASELINE_DIR/recipe.pbtxt" --out="$BASELINE_DIR/recipe" $T1
fi

# The example, with its latent model written under OUT.
P="$OUT/diffae.pbtxt"
sed "s#dir: \"out/fashion_mnist_diffae_latent\"#dir: \"$OUT/latent\"#" \
  pipeline/examples/fashion_mnist_diffae.pbtxt > "$P"
C="$OUT/autoencoder/checkpoint.pt"
D="--pipeline=$P --checkpoint=$C $T1"
"$DIFFUSE" train --pipeline="$P" --out="$OUT/autoencoder" $T1 2>&1 | tail -n 1 | tee -a "$summary"
"$DIFFUSE" train-latent-prior $D --split=train --indices=0:60000 2>&1 | tail -n 2 | tee -a "$summary"

eval_images() {  # eval_images NAME  (OUT/NAME.npy, labels in OUT/NAME_labels.npy if any)
  "$DIFFUSE" eval --classifier="$CLASSIFIER" --samples="$OUT/$1.npy" $T1 | tee -a "$summary"
}

# 1. Unconditional generation: z_sem ~ latent DDIM, x_T ~ N(0, I), decode.
start=$SECONDS
"$DIFFUSE" sample $D --num="$N" --out="$OUT/generated.npy" --png="$OUT/generated.png" > /dev/null
echo "== generated: $N samples through the latent DDIM in $((SECONDS - start)) s" | tee -a "$summary"
eval_images generated

# 2. Reconstruction of test images: inferred x_T, and random x_T (semantics only).
"$DIFFUSE" encode $D --split=test --indices=0:"$N" --out="$OUT/z_test.npy" \
  --x_T_out="$OUT/xT_test.npy" --png="$OUT/originals.png" > /dev/null
"$DIFFUSE" decode $D --latent="$OUT/z_test.npy" --x_T="$OUT/xT_test.npy" \
  --out="$OUT/recon_inferred.npy" --png="$OUT/recon_inferred.png" > /dev/null
"$DIFFUSE" decode $D --latent="$OUT/z_test.npy" --seed=21 \
  --out="$OUT/recon_random.npy" --png="$OUT/recon_random.png" > /dev/null
/usr/bin/python3 - "$OUT" "$N" <<'PY' | tee -a "$summary"
import gzip, sys, numpy as np
out, n = sys.argv[1], int(sys.argv[2])
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 1, 28, 28)[:n] / 127.5 - 1
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read()[8:], np.uint8)[:n].astype(np.float32)
np.save(out + "/originals.npy", x.astype(np.float32))
for name in ("originals", "recon_inferred", "recon_random"):
    np.save(out + f"/{name}_labels.npy", y)
    r = np.load(out + f"/{name}.npy")
    print(f"== {name}: MSE to the originals {np.mean((r - x) ** 2):.5f} "
          f"(max abs {np.abs(r - x).max():.3f})")
PY
for name in originals recon_inferred recon_random; do echo "== $name" >> "$summary"; eval_images "$name"; done

# 3. Pictures: variations, interpolation beside the plain-DDIM baseline, manipulation.
"$DIFFUSE" vary $D --split=test --indices=0:10 --variations=9 --out="$OUT/vary.npy" \
  --png="$OUT/vary.png" > /dev/null
for pair in 0:2 2:4 4:6 6:8 8:10; do
  "$DIFFUSE" interpolate $D --split=test --indices="$pair" --frames=10 \
    --baseline_pipeline="$BASELINE_DIR/recipe.pbtxt" \
    --baseline_checkpoint="$BASELINE_DIR/recipe/checkpoint.pt" \
    --out="$OUT/interp_${pair/:/_}.npy" --png="$OUT/interp_${pair/:/_}.png" > /dev/null
done
# Pullover (2) -> coat (4) on the first 20 test pullovers, each with its own x_T.
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
x, y = np.load(out + "/originals.npy"), np.load(out + "/originals_labels.npy")
np.save(out + "/pullovers.npy", x[y == 2][:20])
PY
"$DIFFUSE" manipulate $D --attribute=2,4 --attribute_indices=0:20000 \
  --images="$OUT/pullovers.npy" --scales=-2,-1,0,1,2,3 --out="$OUT/edits.npy" \
  --png="$OUT/edits.png" | tee -a "$summary"
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
e = np.load(out + "/edits.npy")                      # [20, scales, 1, 28, 28]
for k in range(e.shape[1]):
    np.save(out + f"/edit_scale{k}.npy", e[:, k])
    np.save(out + f"/edit_scale{k}_labels.npy", np.full(len(e), 4, np.float32))
PY
for k in 0 1 2 3 4 5; do echo "== edits at scale index $k (labels: coat)" >> "$summary"; eval_images "edit_scale$k"; done
echo "wrote $summary and $OUT/*.png"
