#!/usr/bin/env bash
# Issue 10's ablation (docs/fashion_mnist.md, "What each choice does"): the recipe
# (fashion_mnist_v.pbtxt) against variants that each undo one of its choices, all trained for
# STEPS steps (the same network costs the same per step, so equal steps are equal time; the
# no-attention variant's time is in its log; the wider network, base_channels 48, gets
# WIDE_STEPS, default 45% of STEPS, about its share at equal time, its log has the time),
# two at a time with one intra-op thread each on the 2 cores, then N samples of each with DDIM 50 steps (x0 clamped unless the variant says
# otherwise), scored by the evaluation classifier's features: two sets per model (sampler
# seeds 11 and 12) and their pooled 2N; the recipe also without clamping x0 (a sampling-only
# choice).
#   STEPS=1000 N=500 bash tools/fashion_mnist_ablation.sh [OUT_DIR] (default out/fmnist_ablation)
# PAIRS="recipe,eps edm,plain constant_lr,no_attention ema_no_warmup,wide,linear" picks the
# trainings (each group runs side by side, usually two for the two cores, and is sampled
# before the next group starts). The
# evaluation classifier comes from CLASSIFIER_FROM/classifier if given, else it is trained.
# Resumes after a kill (trainings from their checkpoints; finished samples are kept).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/fmnist_ablation}"
N="${N:-500}"
STEPS="${STEPS:-1000}"
PAIRS="${PAIRS:-recipe,eps edm,plain constant_lr,no_attention ema_no_warmup,wide,linear}"
WIDE_STEPS="${WIDE_STEPS:-$((STEPS * 45 / 100))}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
if [[ -n "${CLASSIFIER_FROM:-}" && ! -s "$OUT/classifier/classifier.pt" ]]; then
  mkdir -p "$OUT/classifier"
  cp "$CLASSIFIER_FROM/classifier/classifier."* "$OUT/classifier/"
fi
ensure_classifier "$OUT/classifier" | tee -a "$summary"

variant() {  # variant NAME: the recipe with one choice undone, at STEPS steps (wide: WIDE_STEPS)
  local edit steps=$STEPS
  case "$1" in
    recipe) edit='' ;;
    eps) edit='s/parameterization: V }/parameterization: EPS }/' ;;
    edm) edit='s/parameterization: V }/parameterization: EDM }/' ;;
    plain) edit='s/loss_weighting: MIN_SNR/loss_weighting: PLAIN/' ;;
    constant_lr) edit='s/lr_schedule: COSINE/lr_schedule: CONSTANT/' ;;
    ema_no_warmup) edit='s/ema_warmup: true/ema_warmup: false/' ;;
    # channel_mult set and attention_resolutions unset: attention in the middle block only
    no_attention) edit='s/parameterization: V }/parameterization: V channel_mult: [1, 2, 2] }/' ;;
    linear) edit='s/schedule: COSINE num_steps/schedule: LINEAR num_steps/' ;;
    wide) edit='s/parameterization: V }/parameterization: V base_channels: 48 }/'; steps=$WIDE_STEPS ;;
    *) echo "unknown variant $1" >&2; exit 2 ;;
  esac
  sed -e "s/^  steps: [0-9]*/  steps: $steps/" -e "$edit" "$EX/fashion_mnist_v.pbtxt" > "$OUT/$1.pbtxt"
  if [[ -n "$edit" ]] && cmp -s "$OUT/$1.pbtxt" "$OUT/recipe.pbtxt"; then
    echo "variant $1 changed nothing in the recipe" >&2; exit 2
  fi
}

train() {  # train NAME
  "$DIFFUSE" train --pipeline="$OUT/$1.pbtxt" --out="$OUT/$1" --threads=1 \
    --intra_op_threads=1 >> "$OUT/train_$1.log" 2>&1
  echo "$1: $(grep "^trained" "$OUT/train_$1.log" | paste -sd ";")" | tee -a "$summary"
}

pool() {  # pool NAME A B: OUT/NAME.npy = the samples of OUT/A.npy and OUT/B.npy
  [[ -s "$OUT/$1.npy" ]] || /usr/bin/python3 -c '
import sys, numpy as np
np.save(sys.argv[1] + ".tmp.npy", np.concatenate([np.load(sys.argv[2]), np.load(sys.argv[3])]))
' "$OUT/$1" "$OUT/$2.npy" "$OUT/$3.npy"
  [[ -s "$OUT/$1.npy" ]] || mv "$OUT/$1.tmp.npy" "$OUT/$1.npy"
}

variant recipe
for pair in $PAIRS; do
  IFS=, read -r -a names <<< "$pair"
  for name in "${names[@]}"; do variant "$name"; done
  pids=()
  for name in "${names[@]}"; do train "$name" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done  # a failed training stops the script
  for name in "${names[@]}"; do
    # Two sample sets (sampler seeds 11 and 12), each scored, and the 2N pooled: at N = 500
    # one set's distance moves by several units with the seed at this training length.
    sed 's/seed: 11 clip_x0: 1 }/seed: 12 clip_x0: 1 }/' "$OUT/$name.pbtxt" > "$OUT/${name}_seed12.pbtxt"
    sample_and_eval "${name}_ddim" "$name" "$name"
    sample_and_eval "${name}_seed12_ddim" "${name}_seed12" "$name"
    pool "${name}_pooled_ddim" "${name}_ddim" "${name}_seed12_ddim"
    sample_and_eval "${name}_pooled_ddim" "$name" "$name"
  done
done
# Sampling-only choices on the recipe's checkpoint: x0 not clamped, and Imagen's dynamic
# thresholding (quantile 0.995, bound 1) instead of the plain clamp.
if [[ -s "$OUT/recipe/checkpoint.pt" ]]; then
  sed 's/seed: 11 clip_x0: 1 }/seed: 12 clip_x0: 1 }/' "$OUT/recipe.pbtxt" > "$OUT/recipe_seed12.pbtxt"
  for choice in no_clip dynamic; do
    edit='s/ clip_x0: 1 }/ }/'
    [[ $choice == dynamic ]] && edit='s/ clip_x0: 1 }/ clip_x0: 1 dynamic_threshold: 0.995 }/'
    sed "$edit" "$OUT/recipe.pbtxt" > "$OUT/recipe_$choice.pbtxt"
    sed "$edit" "$OUT/recipe_seed12.pbtxt" > "$OUT/recipe_${choice}_seed12.pbtxt"
    sample_and_eval "recipe_${choice}_ddim" "recipe_$choice" recipe
    sample_and_eval "recipe_${choice}_seed12_ddim" "recipe_${choice}_seed12" recipe
    pool "recipe_${choice}_pooled_ddim" "recipe_${choice}_ddim" "recipe_${choice}_seed12_ddim"
    sample_and_eval "recipe_${choice}_pooled_ddim" "recipe_$choice" recipe
  done
fi
echo "wrote $summary and $OUT/*.png"
