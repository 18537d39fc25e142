#!/usr/bin/env bash
# Trains the emoji text-image model (pipeline/examples/emoji/emoji_text_image.pbtxt: the
# transformer text encoder) beside its bag_of_words baseline (emoji_text_image_bow.pbtxt),
# one process each with one BLAS thread, and scores both with `diffuse retrieval` on the
# held-out emoji (docs/emoji.md). Usage:
#   bash tools/emoji_text_image.sh [MANIFEST] [OUT]
# MANIFEST defaults to tools/fetch_emoji.sh's ($HOME/.cache/diffuse/emoji/manifest.jsonl;
# fetched when missing), OUT to out/emoji. STEPS=N overrides the 1,500 training steps.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=${1:-$HOME/.cache/diffuse/emoji/manifest.jsonl}
out=${2:-$PWD/out/emoji}
[[ -f "$manifest" ]] || bash tools/fetch_emoji.sh "$(dirname "$manifest")"
bash tools/install_deps.sh
bazel build //tools:diffuse
mkdir -p "$out"
for model in emoji_text_image emoji_text_image_bow; do
  sed -e "s#manifest: \"[^\"]*\"#manifest: \"$manifest\"#" \
      -e "s/^  steps: [0-9]*/  steps: ${STEPS:-1500}/" \
      "pipeline/examples/emoji/$model.pbtxt" > "$out/$model.pbtxt"
  bazel-bin/tools/diffuse train --pipeline="$out/$model.pbtxt" --out="$out/$model" \
    --threads=1 > "$out/$model.log" 2>&1 &
done
wait
for model in emoji_text_image emoji_text_image_bow; do
  tail -n 1 "$out/$model.log"
  for split in test train; do
    bazel-bin/tools/diffuse retrieval --pipeline="$out/$model.pbtxt" \
      --checkpoint="$out/$model/checkpoint.pt" --split=$split 2> /dev/null | sed "s/^/$model: /"
  done
done
