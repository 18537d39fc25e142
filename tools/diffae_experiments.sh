#!/usr/bin/env bash
# Diffusion Autoencoders on Fashion-MNIST (docs/diffae.md): trains the autoencoder of
# pipeline/examples/fashion_mnist_diffae.pbtxt (semantic encoder + U-Net decoder, jointly),
# then its latent DDIM on the encoded training set, and reruns every figure:
#   - unconditional generation through the latent DDIM: Frechet distance of the eval
#     classifier's features (n = N);
#   - reconstruction of N test images with the inferred x_T (DDIM inversion) and with a
#     random x_T: MSE, and eval-classifier accuracy against the true labels;
#     and, as the baseline, the plain U-Net's DDIM inversion decoded;
#   - interpolation smoothness over 100 test pairs x 10 frames, DiffAE vs the plain-DDIM
#     baseline (consecutive-frame distances in the eval classifier's features);
#   - attribute manipulation: the fraction of edits the classifier assigns to the target
#     class at each scale, and the feature distance to the unedited reconstruction;
#   - 10-class linear probes on z_sem, raw pixels and the inverted x_T;
#   - pictures: generations, reconstructions, variations, interpolations, edits.
# WEIGHTING=MIN_SNR (or PLAIN, UDM) replaces the example's training.loss_weighting.
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
sed -e "s#dir: \"out/fashion_mnist_diffae_latent\"#dir: \"$OUT/latent\"#" \
  ${WEIGHTING:+-e "s/loss_weighting: [A-Z_]*/loss_weighting: $WEIGHTING/"} \
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
# (c) the baseline: the plain U-Net's DDIM inversion on the same 100-step grid, decoded.
B="$OUT/baseline_100.pbtxt"
sed 's/^sampler {.*/sampler { num_steps: 100 grid: TRAILING batch_size: 100 seed: 11 }/' \
  "$BASELINE_DIR/recipe.pbtxt" > "$B"
"$DIFFUSE" encode --pipeline="$B" --checkpoint="$BASELINE_DIR/recipe/checkpoint.pt" $T1 \
  --split=test --indices=0:"$N" --x_T_out="$OUT/xT_test_plain.npy" > /dev/null
"$DIFFUSE" sample --pipeline="$B" --checkpoint="$BASELINE_DIR/recipe/checkpoint.pt" $T1 \
  --x_T="$OUT/xT_test_plain.npy" --out="$OUT/recon_plain.npy" --png="$OUT/recon_plain.png" > /dev/null
/usr/bin/python3 - "$OUT" "$N" <<'PY' | tee -a "$summary"
import gzip, sys, numpy as np
out, n = sys.argv[1], int(sys.argv[2])
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 1, 28, 28)[:n] / 127.5 - 1
with gzip.open("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read()[8:], np.uint8)[:n].astype(np.float32)
np.save(out + "/originals.npy", x.astype(np.float32))
for name in ("originals", "recon_inferred", "recon_random", "recon_plain"):
    np.save(out + f"/{name}_labels.npy", y)
    r = np.load(out + f"/{name}.npy")
    print(f"== {name}: MSE to the originals {np.mean((r - x) ** 2):.5f} "
          f"(max abs {np.abs(r - x).max():.3f})")
PY
for name in originals recon_inferred recon_random recon_plain; do echo "== $name" >> "$summary"; eval_images "$name"; done

# 3. Pictures: variations, interpolation beside the plain-DDIM baseline, manipulation.
"$DIFFUSE" vary $D --split=test --indices=0:10 --variations=9 --out="$OUT/vary.npy" \
  --png="$OUT/vary.png" > /dev/null
# Interpolation smoothness: 100 test pairs (images 2k, 2k + 1) x 10 frames, DiffAE (lerp
# z_sem, slerp x_T) and the baseline (slerp of the plain model's inverted x_T); distances
# between consecutive frames in the eval classifier's feature space.
"$DIFFUSE" interpolate $D --split=test --indices=0:200 --frames=10 \
  --baseline_pipeline="$BASELINE_DIR/recipe.pbtxt" \
  --baseline_checkpoint="$BASELINE_DIR/recipe/checkpoint.pt" \
  --out="$OUT/interp.npy" --png="$OUT/interp.png" > /dev/null
/usr/bin/python3 - "$OUT" <<'PY'
import sys, numpy as np
out = sys.argv[1]
i = np.load(out + "/interp.npy")                     # [pairs, 2, frames, 1, 28, 28]
for r, name in enumerate(("diffae", "baseline")):
    np.save(out + f"/interp_{name}.npy", i[:, r].reshape(-1, *i.shape[3:]))
PY
for name in diffae baseline; do
  "$DIFFUSE" eval --classifier="$CLASSIFIER" --samples="$OUT/interp_$name.npy" \
    --features_out="$OUT/interp_${name}_features.npy" $T1 > /dev/null
done
/usr/bin/python3 - "$OUT" <<'PY' | tee -a "$summary"
import sys, numpy as np
out = sys.argv[1]
frames = np.load(out + "/interp.npy").shape[2]
for name in ("diffae", "baseline"):
    f = np.load(out + f"/interp_{name}_features.npy").reshape(-1, frames, 128)
    step = np.linalg.norm(f[:, 1:] - f[:, :-1], axis=2)            # [pairs, frames - 1]
    ends = np.linalg.norm(f[:, -1] - f[:, 0], axis=1)
    print(f"== interpolation {name}: {len(f)} pairs x {frames} frames, consecutive-frame "
          f"feature distance mean {step.mean():.3f}, mean of per-pair max {step.max(1).mean():.3f}, "
          f"max {step.max():.3f}; path length / endpoint distance {np.mean(step.sum(1) / ends):.2f}")
PY

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
for k in 0 1 2 3 4 5; do
  echo "== edits at scale index $k (labels: coat)" >> "$summary"
  "$DIFFUSE" eval --classifier="$CLASSIFIER" --samples="$OUT/edit_scale$k.npy" \
    --features_out="$OUT/edit_scale${k}_features.npy" $T1 | tee -a "$summary"
done
/usr/bin/python3 - "$OUT" <<'PY' | tee -a "$summary"
import sys, numpy as np
out = sys.argv[1]
f0 = np.load(out + "/edit_scale2_features.npy")          # scale 0: the unedited reconstruction
for k, s in enumerate((-2, -1, 0, 1, 2, 3)):
    f = np.load(out + f"/edit_scale{k}_features.npy")
    print(f"== edit scale {s}: mean feature distance to the unedited reconstruction "
          f"{np.linalg.norm(f - f0, axis=1).mean():.3f}")
PY

# 4. Linear probes (10 classes): z_sem, raw pixels and the inverted x_T, each trained on the
# same 1,000 training images and tested on the N test images; z_sem and pixels also with
# 10,000 training images.
"$DIFFUSE" encode $D --split=train --indices=0:1000 --out="$OUT/z_train1k.npy" \
  --x_T_out="$OUT/xT_train1k.npy" > /dev/null
"$DIFFUSE" encode $D --split=train --indices=0:10000 --out="$OUT/z_train10k.npy" > /dev/null
/usr/bin/python3 - "$OUT" <<'PY'
import gzip, sys, numpy as np
out = sys.argv[1]
d = "/usr/share/datasets/fashion-mnist/"
with gzip.open(d + "train-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 1, 28, 28)[:10000] / 127.5 - 1
with gzip.open(d + "train-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read()[8:], np.uint8)[:10000].astype(np.float32)
np.save(out + "/pixels_train10k.npy", x.astype(np.float32))
np.save(out + "/pixels_train1k.npy", x[:1000].astype(np.float32))
np.save(out + "/labels_train10k.npy", y)
np.save(out + "/labels_train1k.npy", y[:1000])
PY
probe() {  # probe NAME TRAIN SIZE TEST
  /usr/bin/python3 tools/linear_probe.py "$1" "$OUT/$2.npy" "$OUT/labels_$3.npy" "$OUT/$4.npy" \
    "$OUT/originals_labels.npy" | tee -a "$summary"
}
probe "z_sem" z_train1k train1k z_test
probe "pixels" pixels_train1k train1k originals
probe "inverted x_T" xT_train1k train1k xT_test
probe "z_sem" z_train10k train10k z_test
probe "pixels" pixels_train10k train10k originals

echo "wrote $summary and $OUT/*.png"
