#!/usr/bin/env bash
# The negative ELBO, term by term (diffuse elbo, assembly/elbo.h), of the first N test images
# under trained Fashion-MNIST models (docs/diffusion_vae.md, "The ELBO's terms"). Each
# argument is NAME=DESCRIPTION:CHECKPOINT; the reports go to OUT/NAME.txt and OUT/summary.txt.
#   N=1000 DRAWS=2 bash tools/elbo.sh OUT_DIR v=out/text_guidance/uncond.pbtxt:out/text_guidance/uncond/checkpoint.pt ...
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="$1"
shift
N="${N:-1000}"
DRAWS="${DRAWS:-2}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
machine_line >> "$summary"
for model in "$@"; do
  name="${model%%=*}" spec="${model#*=}"
  start=$SECONDS
  "$DIFFUSE" elbo --pipeline="${spec%%:*}" --checkpoint="${spec#*:}" --split=test \
    --indices="0:$N" --draws="$DRAWS" --threads=1 --intra_op_threads=2 > "$OUT/$name.txt"
  { echo "== $name (${spec%%:*}, ${spec#*:}): $((SECONDS - start)) s"; cat "$OUT/$name.txt"; } |
    tee -a "$summary"
done
