#!/usr/bin/env bash
# Loss guidance at image scale (docs/guidance.md, "Loss guidance"): the unconditional U-Net
# of fashion_mnist_v.pbtxt steered by guidance "loss" (DDIM 50 trailing steps, x0 clamped),
#   - mean brightness: targets -0.8, -0.3, 0.2 (data units; the training images average
#     about -0.43) at scale S_BRIGHT, gradient through the predictor and on x0_hat alone:
#     the achieved mean brightness and the Frechet distance of the evaluation classifier's
#     features, beside the unguided samples;
#   - the noisy classifier of tools/classifier_guidance.sh read on x0_hat at t = 1
#     (loss "classifier_log_prob", labels 0..9 in turn) at s = 3, 10: eval-classifier
#     accuracy and Frechet, to set beside classifier guidance on x_t;
#   - inpainting: the top half of test image 0 known (masked L2), 16 completions per
#     scale in {0.1, 1, 10}: MSE on the known half (data units), the evaluation classifier's
#     agreement with the test image's label, and a grid of the completions.
#   N=200 bash tools/loss_guidance.sh OUT_DIR
# OUT_DIR holds uncond/checkpoint.pt, uncond.pbtxt and noisy_classifier/checkpoint.pt
# (tools/classifier_guidance.sh writes them) and classifier/classifier.pt. Finished outputs
# are kept.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/guidance}"
N="${N:-200}"
S_BRIGHT="${S_BRIGHT:-1000}"
[[ -s "$OUT/uncond/checkpoint.pt" && -s "$OUT/uncond.pbtxt" && -s "$OUT/noisy_classifier/checkpoint.pt" ]] ||
  { echo "$OUT needs uncond/, uncond.pbtxt and noisy_classifier/ (tools/classifier_guidance.sh)"; exit 1; }
summary="$OUT/summary_loss.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

/usr/bin/python3 - "$OUT" <<'PY'
import gzip, sys, numpy as np
out = sys.argv[1]
d = "/usr/share/datasets/fashion-mnist/"
with gzip.open(d + "t10k-images-idx3-ubyte.gz") as f:
    x = np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 1, 28, 28)[0] / 127.5 - 1
with gzip.open(d + "t10k-labels-idx1-ubyte.gz") as f:
    y = np.frombuffer(f.read()[8:], np.uint8)[0]
mask = np.zeros((1, 28, 28), np.float32)
mask[:, :14] = 1
np.save(out + "/inpaint_reference.npy", x.astype(np.float32))
np.save(out + "/inpaint_mask.npy", mask)
np.save(out + "/inpaint_label.npy", np.array([y], np.float32))
PY

guided() {  # guided NAME SCALE GRADIENT LOSS_SPEC: writes OUT/NAME.pbtxt
  cat "$OUT/uncond.pbtxt" - > "$OUT/$1.pbtxt" <<EOF
guidance {
  name: "loss"
  options {
    [type.googleapis.com/diffuse.LossGuidanceOptions] {
      scale: $2
      gradient: $3
      loss { $4 }
    }
  }
}
EOF
}
run() {  # run NAME NUM: samples OUT/NAME.pbtxt, prints the time
  local start=$SECONDS
  if [[ ! -s "$OUT/$1.npy" ]]; then
    "$DIFFUSE" sample --pipeline="$OUT/$1.pbtxt" --checkpoint="$OUT/uncond/checkpoint.pt" \
      --num="$2" --out="$OUT/$1.npy" --png="$OUT/$1.png" --threads=1 --intra_op_threads=2 > /dev/null
    echo "== $1: $2 samples in $((SECONDS - start)) s" | tee -a "$summary"
  fi
}
cp "$OUT/uncond.pbtxt" "$OUT/unguided.pbtxt"
run unguided "$N"
for target in -0.8 -0.3 0.2; do
  for gradient in THROUGH_PREDICTOR X0_ONLY; do
    name="bright_${target}_$gradient"
    guided "$name" "$S_BRIGHT" "$gradient" "name: \"mean_brightness\" options { [type.googleapis.com/diffuse.MeanBrightnessLossOptions] { target: $target } }"
    run "$name" "$N"
  done
done
for s in 3 10; do
  guided "x0_classifier_s$s" "$s" THROUGH_PREDICTOR "name: \"classifier_log_prob\" options { [type.googleapis.com/diffuse.ClassifierLogProbLossOptions] { classifier { name: \"trained_classifier\" options { [type.googleapis.com/diffuse.TrainedClassifierOptions] { checkpoint: \"$OUT/noisy_classifier/checkpoint.pt\" } } } time: 1 } }"
  run "x0_classifier_s$s" "$N"
done
for s in 0.1 1 10; do
  guided "inpaint_s$s" "$s" THROUGH_PREDICTOR "name: \"masked_l2\" options { [type.googleapis.com/diffuse.MaskedL2LossOptions] { reference: \"$OUT/inpaint_reference.npy\" mask: \"$OUT/inpaint_mask.npy\" } }"
  run "inpaint_s$s" 16
  /usr/bin/python3 -c "import numpy as np, sys; n = np.load(sys.argv[1]).shape[0]; np.save(sys.argv[2], np.full(n, np.load(sys.argv[3])[0], np.float32))" \
    "$OUT/inpaint_s$s.npy" "$OUT/inpaint_s${s}_labels.npy" "$OUT/inpaint_label.npy"
done

for name in unguided bright_{-0.8,-0.3,0.2}_{THROUGH_PREDICTOR,X0_ONLY} x0_classifier_s{3,10}; do
  echo "== $name: mean brightness $(/usr/bin/python3 -c "import numpy as np, sys; x = np.load(sys.argv[1]); print(f'{x.mean():.3f} (per-image std {x.reshape(len(x), -1).mean(1).std():.3f})')" "$OUT/$name.npy")" | tee -a "$summary"
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$name.npy" \
    --threads=1 --intra_op_threads=2 | tee -a "$summary"
done
for s in 0.1 1 10; do
  /usr/bin/python3 - "$OUT" "$s" <<'PY' | tee -a "$summary"
import sys, numpy as np
out, s = sys.argv[1], sys.argv[2]
x = np.load(f"{out}/inpaint_s{s}.npy")
ref, mask = np.load(out + "/inpaint_reference.npy"), np.load(out + "/inpaint_mask.npy")
known = ((x - ref) ** 2 * mask).sum((1, 2, 3)) / mask.sum()
unknown = ((x - ref) ** 2 * (1 - mask)).sum((1, 2, 3)) / (1 - mask).sum()
print(f"== inpaint s = {s}: MSE on the known half {known.mean():.4f}, on the unknown half "
      f"{unknown.mean():.4f} (16 samples)")
PY
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/inpaint_s$s.npy" \
    --threads=1 --intra_op_threads=2 | grep -i "accuracy" | tee -a "$summary" || true
done
echo "wrote $summary and $OUT/*.png"
