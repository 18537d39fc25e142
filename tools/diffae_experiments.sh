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
# WEIGHTING=MIN_SNR (or PLAIN, UDM) replaces the example's training.loss_weighting; PAIRS
# (default 100) sets the number of interpolated test pairs.
#   N=500 bash tools/diffae_experiments.sh [OUT_DIR]     (default out/diffae_experiments)
# Everything resumes after a kill (a finished output is not computed again). The evaluation classifier and the plain baseline are
# reused from tools/fashion_mnist_recipe.sh's output when present (CLASSIFIER, BASELINE_DIR),
# else trained here.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/diffae_experiments}"
N="${N:-500}"
CLASSIFIER="${CLASSIFIER:-out/fmnist_recipe/classifier/classifier.pt}"
BASELINE_DIR="${BASELINE_DIR:-out/fmnist_recipe}"
T1="${T1:---threads=1 --intra_op_threads=1}"  # per command; two streams run at once on 2 cores
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

eval_images() {  # eval_images NAME [FLAGS]  (OUT/NAME.npy; labels from OUT/NAME_labels.npy)
  local name="$1"
  shift
  "$DIFFUSE" eval --classifier="$CLASSIFIER" --samples="$OUT/$name.npy" $T1 "$@" | tee -a "$summary"
}
once() {  # once FILE COMMAND...: runs COMMAND unless FILE exists (outputs are written atomically)
  local file="$1"
  shift
  [[ -s "$file" ]] || "$@" > /dev/null
}
B="$OUT/baseline_100.pbtxt"  # the plain U-Net on the same 100-step DDIM grid
sed 's/^sampler {.*/sampler { num_steps: 100 grid: TRAILING batch_size: 100 seed: 11 }/' \
  "$BASELINE_DIR/recipe.pbtxt" > "$B"
PB="--pipeline=$B --checkpoint=$BASELINE_DIR/recipe/checkpoint.pt $T1"

# The expensive commands run as two streams, one per core (T1: one thread each), then
# everything is evaluated in order.
stream_a() {
  # 1. Unconditional generation: z_sem ~ latent DDIM, x_T ~ N(0, I), decode.
  once "$OUT/generated.npy" "$DIFFUSE" sample $D --num="$N" --out="$OUT/generated.npy" \
    --png="$OUT/generated.png"
  # 2. Reconstruction of N test images with the inferred x_T and with a random one.
  once "$OUT/xT_test.npy" "$DIFFUSE" encode $D --split=test --indices=0:"$N" \
    --out="$OUT/z_test.npy" --x_T_out="$OUT/xT_test.npy" --png="$OUT/originals.png"
  once "$OUT/recon_inferred.npy" "$DIFFUSE" decode $D --latent="$OUT/z_test.npy" \
    --x_T="$OUT/xT_test.npy" --out="$OUT/recon_inferred.npy" --png="$OUT/recon_inferred.png"
  once "$OUT/recon_random.npy" "$DIFFUSE" decode $D --latent="$OUT/z_test.npy" --seed=21 \
    --out="$OUT/recon_random.npy" --png="$OUT/recon_random.png"
  once "$OUT/vary.npy" "$DIFFUSE" vary $D --split=test --indices=0:10 --variations=9 \
    --out="$OUT/vary.npy" --png="$OUT/vary.png"
  # Interpolation: test pairs (images 2k, 2k + 1) x 10 frames, DiffAE (lerp z_sem, slerp
  # x_T) and the baseline (slerp of the plain model's inverted x_T).
  once "$OUT/interp.npy" "$DIFFUSE" interpolate $D --split=test --indices=0:"$((2 * PAIRS))" \
    --frames=10 --baseline_pipeline="$BASELINE_DIR/recipe.pbtxt" \
    --baseline_checkpoint="$BASELINE_DIR/recipe/checkpoint.pt" \
    --out="$OUT/interp.npy" --png="$OUT/interp.png"
}
stream_b() {
  # 2(c). The baseline's reconstruction: the plain U-Net's DDIM inversion, decoded.
  once "$OUT/xT_test_plain.npy" "$DIFFUSE" encode $PB --split=test --indices=0:"$N" \
    --x_T_out="$OUT/xT_test_plain.npy"
  once "$OUT/recon_plain.npy" "$DIFFUSE" sample $PB --x_T="$OUT/xT_test_plain.npy" \
    --out="$OUT/recon_plain.npy" --png="$OUT/recon_plain.png"
  # 3. Manipulation, pullover (2) -> coat (4): the first 20 test pullovers, each with its own
  # x_T, moved along the logistic-regression direction on z_sem.
  /usr/bin/python3 - "$OUT" "$N" <<'PY'
import gzip, sys, numpy as np
out, n = sys.argv[1], int(sys.argv[2])
d = "/usr/share/datasets/fashion-mnist/"
def read(name, offset, shape):
    with gzip.open(d + name) as f:
        return np.frombuffer(f.read()[offset:], np.uint8).reshape(shape)
x = read("t10k-images-idx3-ubyte.gz", 16, (-1, 1, 28, 28))[:n] / 127.5 - 1
y = read("t10k-labels-idx1-ubyte.gz", 8, (-1,))[:n].astype(np.float32)
np.save(out + "/originals.npy", x.astype(np.float32))
np.save(out + "/pullovers.npy", x[y == 2][:20].astype(np.float32))
for name in ("originals", "recon_inferred", "recon_random", "recon_plain"):
    np.save(out + f"/{name}_labels.npy", y)
xt = read("train-images-idx3-ubyte.gz", 16, (-1, 1, 28, 28))[:10000] / 127.5 - 1
yt = read("train-labels-idx1-ubyte.gz", 8, (-1,))[:10000].astype(np.float32)
np.save(out + "/pixels_train10k.npy", xt.astype(np.float32))
np.save(out + "/pixels_train1k.npy", xt[:1000].astype(np.float32))
np.save(out + "/labels_train10k.npy", yt)
np.save(out + "/labels_train1k.npy", yt[:1000])
PY
  [[ -s "$OUT/edits.npy" ]] || "$DIFFUSE" manipulate $D --attribute=2,4 \
    --attribute_indices=0:20000 --images="$OUT/pullovers.npy" --scales="$SCALES" \
    --out="$OUT/edits.npy" --png="$OUT/edits.png" > "$OUT/manipulate.txt"
  once "$OUT/edits_long.npy" "$DIFFUSE" manipulate $D --attribute=2,4 \
    --attribute_indices=0:20000 --images="$OUT/pullovers.npy" --scales="$LONG_SCALES" \
    --out="$OUT/edits_long.npy" --png="$OUT/edits_long.png"
  # 4. Codes of training images for the linear probes.
  once "$OUT/xT_train1k.npy" "$DIFFUSE" encode $D --split=train --indices=0:1000 \
    --out="$OUT/z_train1k.npy" --x_T_out="$OUT/xT_train1k.npy"
  once "$OUT/z_train10k.npy" "$DIFFUSE" encode $D --split=train --indices=0:10000 \
    --out="$OUT/z_train10k.npy"
}
PAIRS="${PAIRS:-100}"
SCALES=-2,-1,0,1,2,3    # manipulation scales, in standard deviations of z_sem along the direction
LONG_SCALES=0,4,8,16
stream_a & a=$!
stream_b & b=$!
wait "$a"
wait "$b"

echo "== generated: $N samples through the latent DDIM" | tee -a "$summary"
eval_images generated
/usr/bin/python3 - "$OUT" <<'PY' | tee -a "$summary"
import sys, numpy as np
out = sys.argv[1]
x = np.load(out + "/originals.npy")
for name in ("recon_inferred", "recon_random", "recon_plain"):
    r = np.load(out + f"/{name}.npy")
    print(f"== {name}: MSE to the originals {np.mean((r - x) ** 2):.5f} "
          f"(max abs {np.abs(r - x).max():.3f})")
PY
for name in originals recon_inferred recon_random recon_plain; do
  echo "== $name" >> "$summary"
  eval_images "$name" --features_out="$OUT/${name}_features.npy"
done
/usr/bin/python3 - "$OUT" <<'PY' | tee -a "$summary"
import sys, numpy as np
out = sys.argv[1]
f0 = np.load(out + "/originals_features.npy")
for name in ("recon_inferred", "recon_random", "recon_plain"):
    f = np.load(out + f"/{name}_features.npy")
    print(f"== {name}: mean feature distance to the original {np.linalg.norm(f - f0, axis=1).mean():.3f}")
PY

# Interpolation smoothness: distances between consecutive frames in the eval classifier's
# feature space.
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

# Manipulation: the eval classifier's verdict (labels: coat) and the feature distance to the
# unedited reconstruction (scale 0) at each scale; the scales of manipulate, then longer ones.
eval_edits() {  # eval_edits NAME SCALES  (OUT/NAME.npy from manipulate --scales=SCALES)
  local name="$1" scales="$2" k=0 s
  /usr/bin/python3 - "$OUT" "$name" <<'PY'
import sys, numpy as np
out, name = sys.argv[1], sys.argv[2]
e = np.load(out + f"/{name}.npy")                    # [images, scales, 1, 28, 28]
for k in range(e.shape[1]):
    np.save(out + f"/{name}_scale{k}.npy", e[:, k])
    np.save(out + f"/{name}_scale{k}_labels.npy", np.full(len(e), 4, np.float32))
PY
  for s in ${scales//,/ }; do
    echo "== $name at scale $s (labels: coat)" >> "$summary"
    eval_images "${name}_scale$k" --features_out="$OUT/${name}_scale${k}_features.npy"
    k=$((k + 1))
  done
  /usr/bin/python3 - "$OUT" "$name" "$scales" <<'PY' | tee -a "$summary"
import sys, numpy as np
out, name, scales = sys.argv[1], sys.argv[2], [float(s) for s in sys.argv[3].split(",")]
f0 = np.load(out + f"/{name}_scale{scales.index(0)}_features.npy")  # the unedited reconstruction
for k, s in enumerate(scales):
    f = np.load(out + f"/{name}_scale{k}_features.npy")
    print(f"== {name} scale {s:g}: mean feature distance to the unedited reconstruction "
          f"{np.linalg.norm(f - f0, axis=1).mean():.3f}")
PY
}
tee -a "$summary" < "$OUT/manipulate.txt"
eval_edits edits "$SCALES"
eval_edits edits_long "$LONG_SCALES"

# Linear probes (10 classes): z_sem, raw pixels and the inverted x_T, each trained on the
# same 1,000 training images and tested on the N test images; z_sem and pixels also with
# 10,000 training images.
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
