#!/bin/bash
# Scores the emoji text-to-image model that tools/emoji_text_to_image.sh trained
# (docs/emoji.md "Text to image"), every figure from the image evaluator (train-evaluator,
# trained here first when missing) against the held-out emoji:
#   bash tools/emoji_text_to_image_eval.sh [MANIFEST] [OUT]
# 1. held-out names (every test picture's caption) and seen names, w = 3: Fréchet distance
#    beside the floor and blur, prompt adherence beside the real pictures;
# 2. a guidance-scale sweep; 3. negative prompts (prompts without a style word, with and
#    without "twitter style" / "google style" as the negative); 4. img2img from google to
#    twitter style at strengths 0.3 / 0.5 / 0.7; 5. inpainting the lower half.
# Grids for docs/emoji.md (tools/npy_grid.py): prompts (5 seen, 5 held-out names) x 8 seeds,
# the guidance sweep and the negative prompts (10 prompts each), img2img and inpainting.
# Outputs already there are kept (delete OUT/t2i to start over). Sizes: N (default 708, the test split), S (default 236) seen names, M (default 236) for the
# sweeps, inpainting and (N / 2) img2img. Writes OUT/t2i/*.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=${1:-$HOME/.cache/diffuse/emoji/manifest.jsonl}
out=${2:-$PWD/out/emoji}
n=${N:-708}
m=${M:-236}
s_seen=${S:-236}
desc=$out/emoji_text_to_image.pbtxt
ckpt=$out/emoji_text_to_image/checkpoint.pt
[[ -f "$ckpt" ]] || { echo "no $ckpt: run tools/emoji_text_to_image.sh first" >&2; exit 1; }
bazel build //tools:diffuse
diffuse=bazel-bin/tools/diffuse
# Convolutions run on LibTorch's intra-op pool: two threads there, one BLAS thread.
threads=(--threads=1 --intra_op_threads=2)
mkdir -p "$out/t2i"
if [[ ! -f "$out/evaluator/evaluator.pt" ]]; then
  $diffuse train-evaluator --pipeline="$desc" --out="$out/evaluator" "${threads[@]}" 2>/dev/null
fi
cat "$out/evaluator/evaluator.txt"
prompts() { python3 tools/emoji_prompts.py "$manifest" "$@"; }
draw() {  # NAME PROMPTS NUM [extra flags]: samples without scoring
  local name=$1 list=$2 num=$3
  shift 3
  [[ -f "$out/t2i/$name.npy" ]] && return
  $diffuse sample --pipeline="$desc" --checkpoint="$ckpt" --num="$num" --prompt="$list" \
    --out="$out/t2i/$name.npy" "${threads[@]}" "$@" > /dev/null 2>&1
}
sample() {  # NAME PROMPTS [extra flags]
  local name=$1 list=$2
  shift 2
  local start=$SECONDS
  if [[ ! -f "$out/t2i/$name.npy" ]]; then  # a stage already done is kept
    $diffuse sample --pipeline="$desc" --checkpoint="$ckpt" --num="$(tr ';' '\n' <<< "$list" | wc -l)" \
      --prompt="$list" --out="$out/t2i/$name.npy" --png="$out/t2i/$name.png" "${threads[@]}" "$@" \
      > /dev/null 2>&1
  fi
  echo "== $name ($((SECONDS - start)) s)"
  $diffuse image-eval --pipeline="$desc" --evaluator="$out/evaluator/evaluator.pt" \
    --samples="$out/t2i/$name.npy" 2>/dev/null
}
sample heldout_w3 "$(prompts test "$n")"
sample seen_w3 "$(prompts train "$s_seen")"
for w in 0 1 6; do
  sample "sweep_w$w" "$(prompts test "$m")" --guidance_scale=$w
done
plain=$(prompts test "$m" --strip_style)
sample negative_none "$plain"
sample negative_twitter "$plain" --negative_prompt="twitter style"
sample negative_google "$plain" --negative_prompt="google style"
# img2img: the held-out google pictures asked for their twitter rendering.
restyled=$(prompts test "$((n / 2))" --style google --restyle twitter --subset t2i_google_test.jsonl)
count=$(tr ';' '\n' <<< "$restyled" | wc -l)
for s in 0.3 0.5 0.7; do
  start=$SECONDS
  [[ -f "$out/t2i/img2img_$s.npy" ]] ||
    $diffuse img2img --pipeline="$desc" --checkpoint="$ckpt" --strength=$s --prompt="$restyled" \
      --images="$(dirname "$manifest")/t2i_google_test.jsonl" --indices="0:$count" \
      --out="$out/t2i/img2img_$s.npy" --png="$out/t2i/img2img_$s.png" "${threads[@]}" > /dev/null 2>&1
  echo "== img2img_$s ($((SECONDS - start)) s)"
  $diffuse image-eval --pipeline="$desc" --evaluator="$out/evaluator/evaluator.pt" \
    --samples="$out/t2i/img2img_$s.npy" 2>/dev/null
done
# Inpainting: the lower half of held-out pictures, prompted with their own captions.
own=$(prompts test "$m" --subset t2i_test.jsonl)
start=$SECONDS
[[ -f "$out/t2i/inpaint.npy" ]] ||
  $diffuse inpaint --pipeline="$desc" --checkpoint="$ckpt" --mask=lower_half --prompt="$own" \
    --images="$(dirname "$manifest")/t2i_test.jsonl" --indices="0:$m" \
    --out="$out/t2i/inpaint.npy" --png="$out/t2i/inpaint.png" "${threads[@]}" > /dev/null 2>&1
echo "== inpaint ($((SECONDS - start)) s)"
$diffuse image-eval --pipeline="$desc" --evaluator="$out/evaluator/evaluator.pt" \
  --samples="$out/t2i/inpaint.npy" 2>/dev/null
/usr/bin/python3 - "$out/t2i/inpaint.npy" <<'PY'
import sys
import numpy as np
done = np.load(sys.argv[1]); original = np.load(sys.argv[1][:-4] + "_original.npy")
h = done.shape[2] // 2
rmse = lambda a, b: float(np.sqrt(((a - b) ** 2).mean()))
print(f"  inpainting RMSE: known upper half {rmse(done[:, :, :h], original[:, :, :h]):.5f}, "
      f"generated lower half {rmse(done[:, :, h:], original[:, :, h:]):.4f}")
PY
# The grids: rows are prompts; the sweep and negative columns share prompts and noise.
grid() { /usr/bin/python3 tools/npy_grid.py "$@"; }
mkdir -p docs/images
first10() { tr ';' '\n' <<< "$1" | head -n 10 | paste -sd ';'; }
draw grid_prompts "$(first10 "$(prompts train 5)");$(first10 "$(prompts test 5)")" 80
grid docs/images/emoji_t2i_prompts.png 10 --interleave "$out/t2i/grid_prompts.npy"
draw sweep_w3_first10 "$(first10 "$(prompts test "$m")")" 10
grid docs/images/emoji_t2i_sweep.png 10 "$out/t2i/sweep_w0.npy" "$out/t2i/sweep_w1.npy" \
  "$out/t2i/sweep_w3_first10.npy" "$out/t2i/sweep_w6.npy"
grid docs/images/emoji_t2i_negative.png 10 "$out/t2i/negative_none.npy" \
  "$out/t2i/negative_twitter.npy" "$out/t2i/negative_google.npy"
grid docs/images/emoji_img2img.png 10 "$out/t2i/img2img_0.3_original.npy" "$out/t2i/img2img_0.3.npy" \
  "$out/t2i/img2img_0.5.npy" "$out/t2i/img2img_0.7.npy"
grid docs/images/emoji_inpaint.png 10 "$out/t2i/inpaint_original.npy" "$out/t2i/inpaint.npy"
echo "prompts of the grids (rows): $(first10 "$(prompts train 5)");$(first10 "$(prompts test 5)")"
echo "sweep / negative rows: $(first10 "$(prompts test "$m")") / $(first10 "$plain")"
echo "img2img rows: $(first10 "$restyled")"
