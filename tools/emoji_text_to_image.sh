#!/bin/bash
# Trains the 32 x 32 text-to-image model of the emoji sets
# (pipeline/examples/emoji/emoji_text_to_image.pbtxt) on the frozen text encoder that
# tools/emoji_text_image.sh trains, then scores it (docs/emoji.md "Text to image"):
#   bash tools/emoji_text_to_image.sh [MANIFEST] [OUT]     (STEPS=N overrides the steps)
# Stages already done (a checkpoint at its final step, a score file) are kept: rerunning
# resumes the training where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=${1:-$HOME/.cache/diffuse/emoji/manifest.jsonl}
out=${2:-$PWD/out/emoji}
[[ -f "$out/emoji_text_image/checkpoint.pt" ]] || bash tools/emoji_text_image.sh "$manifest" "$out"
bash tools/install_deps.sh
bazel build //tools:diffuse
diffuse=bazel-bin/tools/diffuse
model=emoji_text_to_image
sed -e "s#manifest: \"[^\"]*\"#manifest: \"$manifest\"#" \
    -e "s#checkpoint: \"[^\"]*\"#checkpoint: \"$out/emoji_text_image/checkpoint.pt\"#" \
    -e "s/^  steps: [0-9]*/  steps: ${STEPS:-2800}/" \
    "pipeline/examples/emoji/$model.pbtxt" > "$out/$model.pbtxt"
$diffuse train --pipeline="$out/$model.pbtxt" --out="$out/$model" --threads=1 \
  --intra_op_threads=2 2>&1 | tee -a "$out/$model.log" | grep -E "^trained|^step .*00/" || true
grep "^trained" "$out/$model.log" | tail -n 1
