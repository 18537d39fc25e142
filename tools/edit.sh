#!/usr/bin/env bash
# Editing real images (docs/guidance.md, "Editing real images"): the unconditional U-Net of
# fashion_mnist_v.pbtxt edits held-out Fashion-MNIST images along the direction between two
# prompts of the clean text-image model (fashion_mnist_text_image.pbtxt), by
#   Asyrp (a learned shift of the U-Net's bottleneck, frozen model; at several scales),
#   DiffusionCLIP's model fine-tuning, and its noise optimization,
# each beside the same chain without the edit (the reconstruction). Two edits: "dark" ->
# "light" (learned on LEARN training images of every class, applied to the first N test
# images) and "sneaker" -> "boot" (learned on LEARN training sneakers, applied to the first
# N test sneakers), and sneaker -> boot again with a noisy classifier's log-probability of
# "boot" as the loss. `eval` scores the edits: the target word's adherence (the class word by
# the evaluation classifier, "light" measured from the pixels), the class kept, and the
# identity (feature distance to the original, against the distance to another image);
# tools/edit_table.py writes the table (OUT/table.md).
#   N=100 LEARN=256 bash tools/edit.sh [OUT_DIR]   (default out/edit)
# MODELS_FROM=DIR reuses tools/text_guidance.sh's DIR/uncond and DIR/text_image
# checkpoints instead of training them (STEPS U-Net steps, side by side). Outputs are kept
# when present, so a rerun after a kill goes on.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/edit}"
N="${N:-100}"
LEARN="${LEARN:-256}"
STEPS="${STEPS:-2100}"
SCALES="${SCALES:--1 0.5 1 1.5 2}"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

# The models (NOISY_CLASSIFIER_FROM=DIR reuses tools/classifier_guidance.sh's
# DIR/noisy_classifier).
for model in uncond text_image noisy_classifier; do
  from="${MODELS_FROM:-}"
  [[ $model == noisy_classifier ]] && from="${NOISY_CLASSIFIER_FROM:-}"
  if [[ -n "$from" && ! -s "$OUT/$model/checkpoint.pt" ]]; then
    mkdir -p "$OUT/$model"
    flock "$from/$model/.lock" cp "$from/$model/checkpoint.pt" "$OUT/$model/"
    echo "$model: reused $from/$model/checkpoint.pt" >> "$summary"
  fi
done
sed "s/^  steps: [0-9]*/  steps: $STEPS/" "$EX/fashion_mnist_v.pbtxt" > "$OUT/uncond.pbtxt"
cp "$EX/fashion_mnist_text_image.pbtxt" "$OUT/text_image.pbtxt"
cp "$EX/fashion_mnist_noisy_classifier.pbtxt" "$OUT/noisy_classifier.pbtxt"
for model in uncond text_image noisy_classifier; do
  "$DIFFUSE" train --pipeline="$OUT/$model.pbtxt" --out="$OUT/$model" --threads=1 \
    --intra_op_threads=1 >> "$OUT/train_$model.log" 2>&1 &
done
wait

# The images: LEARN training images to learn from, N test images to edit.
subset() {  # subset FILE SPLIT COUNT [CLASSES]
  [[ -s "$OUT/$1" ]] ||
    /usr/bin/python3 tools/fashion_subset.py --split="$2" --count="$3" --classes="${4:-}" "$OUT/$1"
}
subset learn_any.npy train "$LEARN"
subset test_any.npy test "$N"
subset learn_sneaker.npy train "$LEARN" 7
subset test_sneaker.npy test "$N" 7

loss() {  # loss clip SOURCE TARGET | loss class K: the edit's loss section
  if [[ $1 == clip ]]; then cat <<EOT
  loss {
    name: "clip_direction"
    options {
      [type.googleapis.com/diffuse.ClipDirectionOptions] {
        checkpoint: "$OUT/text_image/checkpoint.pt"
        source_prompt: "$2"
        target_prompt: "$3"
      }
    }
  }
EOT
  else cat <<EOT
  loss {
    name: "classifier_target"
    options {
      [type.googleapis.com/diffuse.ClassifierTargetOptions] {
        classifier {
          name: "trained_classifier"
          options {
            [type.googleapis.com/diffuse.TrainedClassifierOptions] {
              checkpoint: "$OUT/noisy_classifier/checkpoint.pt"
            }
          }
        }
        target_class: $2
      }
    }
  }
EOT
  fi
}

describe() {  # describe NAME "LOSS ARGS" FIELDS...: OUT/NAME.pbtxt, the U-Net + an edit
  local name=$1 loss_args=$2
  shift 2
  { cat "$OUT/uncond.pbtxt"; echo "edit {"; loss $loss_args; printf '  %s\n' "$@"; echo "}"; } \
    > "$OUT/$name.pbtxt"
}

edit() {  # edit NAME PIPELINE IMAGES [edit flags...]: OUT/NAME.npy (kept if present), scored
  local name=$1 pipeline=$2 images=$3 start=$SECONDS
  shift 3
  if [[ ! -s "$OUT/$name.npy" ]]; then
    "$DIFFUSE" edit --pipeline="$OUT/$pipeline.pbtxt" --checkpoint="$OUT/uncond/checkpoint.pt" \
      --images="$OUT/$images" --out="$OUT/$name.npy" --png="$OUT/$name.png" --threads=1 \
      --intra_op_threads=2 "$@" 2>> "$OUT/edit_$name.log" > "$OUT/$name.txt"
    echo "== $name: $((SECONDS - start)) s ($*)" | tee -a "$summary"
  fi
  echo "== $name" >> "$summary"
  grep "edit loss" "$OUT/$name.txt" | tee -a "$summary"
  score "$name"
}

score() {  # score NAME: OUT/NAME.npy against OUT/NAME_original.npy
  local name=$1
  "$DIFFUSE" eval --classifier="$OUT/classifier/classifier.pt" --samples="$OUT/$name.npy" \
    --same_class_as="$OUT/${name}_original.npy" --threads=1 --intra_op_threads=2 |
    grep -v "^evaluation classifier\|floor\|^ *n " | tee -a "$summary"
}

# The methods' settings (edit section fields, one per word pair).
ASYRP=("method: ASYRP" "num_steps: 40" "inversion_steps: 40" "edit_until: 0.3"
       "boost_below: 0.2" "epochs: 2" "batch_size: 8" "learning_rate: 0.01"
       "reconstruction_weight: 0.01")
DCLIP=("start_time: 0.5" "num_steps: 6" "inversion_steps: 40" "batch_size: 8"
       "reconstruction_weight: 0.01")
for pair in "light dark light any" "boot sneaker boot sneaker"; do
  read -r edit_name source target images <<< "$pair"
  describe "asyrp_$edit_name" "clip $source $target" "${ASYRP[@]}"
  describe "finetune_$edit_name" "clip $source $target" "method: FINETUNE_MODEL" "${DCLIP[@]}" \
    "epochs: 1" "learning_rate: 0.0001"
  describe "noise_$edit_name" "clip $source $target" "method: OPTIMIZE_NOISE" "${DCLIP[@]}" \
    "noise_iterations: 20" "learning_rate: 0.05"
  # The originals, scored as themselves (the target word's adherence before any edit).
  if [[ ! -s "$OUT/original_$edit_name.npy" ]]; then
    cp "$OUT/test_$images.npy" "$OUT/original_$edit_name.npy"
    cp "$OUT/test_$images.npy" "$OUT/original_${edit_name}_original.npy"
    for ((i = 0; i < N; i++)); do echo "$target"; done > "$OUT/original_${edit_name}_prompts.txt"
  fi
  echo "== original_$edit_name (unedited)" >> "$summary"
  score "original_$edit_name"
  # Asyrp: learn f_t once, then edit at each scale (0: the reconstruction).
  edit "asyrp_${edit_name}_s0" "asyrp_$edit_name" "test_$images.npy" --reconstruct
  edit "asyrp_${edit_name}_s1" "asyrp_$edit_name" "test_$images.npy" \
    --learn_images="$OUT/learn_$images.npy" --save_learned="$OUT/asyrp_${edit_name}_f.pt"
  for s in $SCALES; do
    [[ $s == 1 ]] && continue
    edit "asyrp_${edit_name}_s$s" "asyrp_$edit_name" "test_$images.npy" \
      --learned="$OUT/asyrp_${edit_name}_f.pt" --shift_scale="$s"
  done
  # DiffusionCLIP from t0 = 0.5 T: the round trip, the fine-tuned model, the optimized noise.
  edit "dclip_${edit_name}_reconstruction" "finetune_$edit_name" "test_$images.npy" --reconstruct
  edit "finetune_$edit_name" "finetune_$edit_name" "test_$images.npy" \
    --learn_images="$OUT/learn_$images.npy"
  edit "noise_$edit_name" "noise_$edit_name" "test_$images.npy"
done
# Sneaker -> boot by the noisy classifier's log-probability of "boot" (class 9) in place of
# the text direction (Asyrp's alternative loss): Asyrp at s = 1 and the fine-tuned model.
describe asyrp_boot_classifier "class 9" "${ASYRP[@]}"
describe finetune_boot_classifier "class 9" "method: FINETUNE_MODEL" "${DCLIP[@]}" \
  "epochs: 1" "learning_rate: 0.0001"
edit asyrp_boot_classifier_s1 asyrp_boot_classifier test_sneaker.npy \
  --learn_images="$OUT/learn_sneaker.npy" --save_learned="$OUT/asyrp_boot_classifier_f.pt"
edit finetune_boot_classifier finetune_boot_classifier test_sneaker.npy \
  --learn_images="$OUT/learn_sneaker.npy"
/usr/bin/python3 tools/edit_table.py "$summary" > "$OUT/table.md"
echo "wrote $summary, $OUT/table.md and $OUT/*.png"
