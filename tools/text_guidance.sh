#!/usr/bin/env bash
# Text at image scale (docs/guidance.md, "Text"): a text-image model trained here
# (pipeline/examples/fashion_mnist_text_image.pbtxt, clean images, and its noise-aware twin
# fashion_mnist_text_image_noisy.pbtxt) steers the unconditional U-Net of
# fashion_mnist_v.pbtxt by CLIP guidance at the scales CLIP_SCALES, beside a U-Net
# conditioned on the same text encoder's prompt embeddings (trained STEPS steps with 10%
# of the captions dropped) sampled with classifier-free guidance at w = 0, 1, 3 and with a
# negative prompt. N samples per row over the ten PROMPTS in turn (a class word and an
# attribute word each), DDIM 50 trailing steps, x0 clamped; `eval` scores the Frechet
# distance and each prompt word's adherence (the class word by the evaluation classifier,
# attribute words measured from the pixels as the captions were).
#   N=300 STEPS=2100 bash tools/text_guidance.sh [OUT_DIR]   (default out/text_guidance)
# UNCOND_FROM=DIR reuses an unconditional U-Net trained from fashion_mnist_v.pbtxt
# (DIR/checkpoint.pt, e.g. tools/classifier_guidance.sh's OUT/uncond) instead of training one.
# Trainings run side by side (one thread each), CLIP sampling beside the U-Net twin's
# training; everything resumes after a kill.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/text_guidance}"
N="${N:-300}"
STEPS="${STEPS:-2100}"
CLIP_SCALES="${CLIP_SCALES:-30 100 300 1000 3000}"
PROMPTS="${PROMPTS:-dark tshirt;light trouser;small pullover;large dress;plain coat;dark sandal;patterned shirt;light sneaker;small bag;large boot}"
CLASSES="tshirt;trouser;pullover;dress;coat;sandal;shirt;sneaker;bag;boot"
T1="--threads=1 --intra_op_threads=1"
EX="$PWD/pipeline/examples"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
ensure_classifier "$OUT/classifier" | tee -a "$summary"

cp "$EX/fashion_mnist_text_image.pbtxt" "$OUT/text_image.pbtxt"
cp "$EX/fashion_mnist_text_image_noisy.pbtxt" "$OUT/text_image_noisy.pbtxt"
sed "s/^  steps: [0-9]*/  steps: $STEPS/" "$EX/fashion_mnist_v.pbtxt" > "$OUT/uncond.pbtxt"
# The text-conditioned twin: the prompt embedding enters every residual block (the latent
# path of Diffusion Autoencoders), 10% of the captions are dropped to the null (zero)
# embedding, and classifier-free guidance samples it.
sed -e 's/parameterization: V }/parameterization: V latent_dim: 64 }/' \
  -e 's/^  seed: 10/  seed: 13\n  condition_dropout: 0.1\n  caption_word_dropout: 0.3/' \
  "$OUT/uncond.pbtxt" > "$OUT/text_unet.pbtxt"
cat >> "$OUT/text_unet.pbtxt" <<EOT
text_encoder {
  name: "trained_text_encoder"
  options {
    [type.googleapis.com/diffuse.TrainedTextEncoderOptions] {
      checkpoint: "$OUT/text_image/checkpoint.pt"
    }
  }
}
guidance {
  name: "classifier_free"
  options { [type.googleapis.com/diffuse.ClassifierFreeGuidanceOptions] { scale: 1 } }
}
EOT

train() {  # train NAME
  "$DIFFUSE" train --pipeline="$OUT/$1.pbtxt" --out="$OUT/$1" $T1 >> "$OUT/train_$1.log" 2>&1
  echo "$1: $(grep "^trained" "$OUT/train_$1.log" | paste -sd ";")" >> "$summary"
  tail -n 2 "$OUT/train_$1.log" | head -n 1 >> "$summary"
}
# The text-image models first (the U-Net twin reads the clean one's text encoder); then the
# twin trains while CLIP guidance samples beside it.
train text_image & a=$!
train text_image_noisy & b=$!
wait "$a" "$b"
# Zero-shot: held-out images matched to class words and attribute words.
for model in text_image text_image_noisy; do
  "$DIFFUSE" zero-shot --checkpoint="$OUT/$model/checkpoint.pt" --split=test --indices=0:10000 \
    --threads=1 | tee -a "$summary"
done
train text_unet & a=$!
if [[ -z "${UNCOND_FROM:-}" ]]; then train uncond; fi
if [[ -n "${UNCOND_FROM:-}" && ! -s "$OUT/uncond/checkpoint.pt" ]]; then
  mkdir -p "$OUT/uncond"
  flock "$UNCOND_FROM/.lock" cp "$UNCOND_FROM/checkpoint.pt" "$OUT/uncond/checkpoint.pt"
  echo "uncond: reused $UNCOND_FROM/checkpoint.pt" >> "$summary"
fi

clip_guidance() {  # clip_guidance MODEL SCALE: the guidance section
  cat <<EOT
guidance {
  name: "clip"
  options {
    [type.googleapis.com/diffuse.ClipGuidanceOptions] {
      checkpoint: "$OUT/$1/checkpoint.pt"
      scale: $2
    }
  }
}
EOT
}

# CLIP guidance of the unconditional U-Net, clean model (through the predictor) and
# noise-aware model (on x_t); s = 0 is the unguided U-Net. One thread beside the training.
SAMPLE_THREADS=1
for model in text_image text_image_noisy; do
  for s in $([[ $model == text_image ]] && echo 0) $CLIP_SCALES; do
    name="clip_${model#text_image}_s$s"; name="${name/clip__/clip_}"
    { cat "$OUT/uncond.pbtxt"; clip_guidance "$model" "$s"; } > "$OUT/$name.pbtxt"
    sample_and_eval "$name" "$name" uncond --prompt="$PROMPTS"
  done
done
wait "$a"
SAMPLE_THREADS=2
# The text-conditioned U-Net with classifier-free guidance.
for w in 0 1 3; do
  sample_and_eval "text_w$w" text_unet text_unet --prompt="$PROMPTS" --guidance_scale="$w"
done
# Composition: the description's terms apply in order, here classifier-free guidance of the
# text-conditioned U-Net (w = 1), then CLIP guidance with the noise-aware model (s = 100).
{ cat "$OUT/text_unet.pbtxt"; clip_guidance text_image_noisy 100; } \
  > "$OUT/text_w1_clip_noisy_s100.pbtxt"
sample_and_eval text_w1_clip_noisy_s100 text_w1_clip_noisy_s100 text_unet --prompt="$PROMPTS" \
  --guidance_scale=1
# Negative prompts: class words alone, without and with --negative_prompt=dark (the null
# condition replaced by "dark"), both scored as "light CLASS" (how many come out light).
for negative in "" dark; do
  name="text_class${negative:+_not_$negative}"
  if [[ ! -s "$OUT/$name.npy" ]]; then
    "$DIFFUSE" sample --pipeline="$OUT/text_unet.pbtxt" --checkpoint="$OUT/text_unet/checkpoint.pt" \
      --num="$N" --out="$OUT/$name.npy" --png="$OUT/$name.png" --threads=1 --intra_op_threads=2 \
      --prompt="$CLASSES" --guidance_scale=1 ${negative:+--negative_prompt=$negative} > /dev/null
    sed -i 's/^/light /' "$OUT/${name}_prompts.txt"
  fi
  sample_and_eval "$name" text_unet text_unet
done
echo "wrote $summary and $OUT/*.png"
