#!/usr/bin/env bash
# Guidance at image scale (docs/guidance.md): classifier guidance of the unconditional U-Net
# (fashion_mnist_v.pbtxt) with a trained noisy classifier
# (pipeline/examples/fashion_mnist_noisy_classifier.pbtxt) at s = 0, 1, 3, 10, in one table
# with classifier-free guidance of its class-conditional twin (fashion_mnist_v_cfg.pbtxt)
# at w = 0, 1, 3; both U-Nets trained STEPS steps. N samples each, DDIM 50 trailing steps,
# x0 clamped, labels 0..9 in turn, scored by the evaluation classifier (accuracy = it
# agrees with the label the sample was guided to; Frechet distance of its features).
#   N=500 STEPS=2100 bash tools/classifier_guidance.sh [OUT_DIR]   (default out/guidance)
# UNCOND_FROM=DIR reuses an unconditional U-Net trained from fashion_mnist_v.pbtxt
# (DIR/checkpoint.pt, e.g. tools/diffae_equal_time.sh's OUT/plain) instead of training one.
# CFG=0 leaves out the class-conditional twin (no second U-Net to train, no w rows).
# The trainings run side by side, one thread each; everything resumes after a kill.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/guidance}"
N="${N:-500}"
STEPS="${STEPS:-2100}"
CFG="${CFG:-1}"
T1="--threads=1 --intra_op_threads=1"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

steps() { sed "s/^  steps: [0-9]*/  steps: $STEPS/" "$1"; }
steps "$EX/fashion_mnist_v.pbtxt" > "$OUT/uncond.pbtxt"
steps "$EX/fashion_mnist_v_cfg.pbtxt" > "$OUT/cond.pbtxt"
cp "$EX/fashion_mnist_noisy_classifier.pbtxt" "$OUT/noisy_classifier.pbtxt"

train() {  # train NAME
  "$DIFFUSE" train --pipeline="$OUT/$1.pbtxt" --out="$OUT/$1" $T1 >> "$OUT/train_$1.log" 2>&1
  echo "$1: $(grep "^trained" "$OUT/train_$1.log" | paste -sd ";")" >> "$summary"
  tail -n 2 "$OUT/train_$1.log" | head -n 1 >> "$summary"
}
train noisy_classifier & a=$!
if [[ "$CFG" == 1 ]]; then train cond & b=$!; else b=""; fi
if [[ -n "${UNCOND_FROM:-}" ]]; then c=""; else train uncond & c=$!; fi
wait "$a"
[[ -z "$b" ]] || wait "$b"
[[ -z "$c" ]] || wait "$c"
if [[ -n "${UNCOND_FROM:-}" && ! -s "$OUT/uncond/checkpoint.pt" ]]; then
  mkdir -p "$OUT/uncond"
  # flock: waits while a trainer still holds UNCOND_FROM (it may be training beside us).
  flock "$UNCOND_FROM/.lock" cp "$UNCOND_FROM/checkpoint.pt" "$OUT/uncond/checkpoint.pt"
  echo "uncond: reused $UNCOND_FROM/checkpoint.pt" >> "$summary"
fi

for s in 0 1 3 10; do
  cat "$OUT/uncond.pbtxt" - > "$OUT/classifier_s$s.pbtxt" <<EOF
guidance {
  name: "classifier"
  options {
    [type.googleapis.com/diffuse.ClassifierGuidanceOptions] {
      scale: $s
      classifier {
        name: "trained_classifier"
        options {
          [type.googleapis.com/diffuse.TrainedClassifierOptions] {
            checkpoint: "$OUT/noisy_classifier/checkpoint.pt"
          }
        }
      }
    }
  }
}
EOF
  sample_and_eval "classifier_s$s" "classifier_s$s" uncond
done
if [[ "$CFG" == 1 ]]; then
  for w in 0 1 3; do
    sample_and_eval "cfg_w$w" cond cond --guidance_scale="$w"
  done
fi
echo "wrote $summary and $OUT/*.png"
