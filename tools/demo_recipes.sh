#!/usr/bin/env bash
# The demo's recipe ablation (docs/recipes.md): each row is the built-in description
# pipeline/examples/eight_gaussians_ddim.pbtxt with a few lines changed, trained, sampled
# (4,000 points, DDIM 50 steps, seed 7, as `diffuse demo`) and scored against the true
# mixture. Equal budget: 6,000 steps at batch 512 unless the row says otherwise.
#   bash tools/demo_recipes.sh [OUT_DIR]        (default out/demo_recipes; ~1 min per row)
#   SEEDS="1 2 3" ONLY=12,18 bash tools/demo_recipes.sh   (rows 12 and 18, each averaged over
#                                                        training seeds 1, 2, 3)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
OUT="${1:-out/demo_recipes}"
SEEDS="${SEEDS:-1}"  # training seeds; several: each row's figures are their means
ONLY="${ONLY:-}"     # row numbers to run, e.g. ONLY=12,18 (default every row)
BASE="$PWD/pipeline/examples/eight_gaussians_ddim.pbtxt"
mkdir -p "$OUT"
# Each row is one sed program applied to the built-in description. PREV turns it back into
# the demo before Fourier features (cosine schedule, no Fourier features); OLD into the one
# before that (eps-prediction, linear betas, constant learning rate, plain loss).
PREV='s/ fourier_features: 32 fourier_scale: 0.25//;s/schedule: SIGMOID num_steps/schedule: COSINE num_steps/'
OLD="$PREV;"'s/parameterization: V/parameterization: EPS/;s/schedule: COSINE num_steps/schedule: LINEAR num_steps/;/lr_schedule: COSINE/d'
V='s/parameterization: EPS/parameterization: V/;s/schedule: LINEAR num_steps/schedule: COSINE num_steps/'
SCHED='s/^  seed: 1$/  seed: 1\n  lr_schedule: COSINE ema_warmup: true/'
rows=(
  "eps, linear betas, constant lr (previous demo)|$OLD"
  "+ cosine lr decay, EMA warm-up|$OLD;$SCHED"
  "v-prediction, cosine alpha schedule|$OLD;$V"
  "EDM preconditioning, sigma_data 4|$OLD;s/parameterization: EPS/parameterization: EDM sigma_data: 4/"
  "x0-prediction|$OLD;s/parameterization: EPS/parameterization: X0/"
  "v + cosine schedule + cosine lr + EMA warm-up|$OLD;$V;$SCHED"
  "  same, EMA decay 0.999|$OLD;$V;$SCHED;s/ema_decay: 0.995/ema_decay: 0.999/"
  "  same, batch 1024 x 3000 steps|$OLD;$V;$SCHED;s/batch_size: 512/batch_size: 1024/;s/steps: 6000/steps: 3000/"
  "  same, width 256 x 3000 steps|$OLD;$V;$SCHED;s/hidden: 128/hidden: 256/;s/steps: 6000/steps: 3000/"
  "  same, 2 residual blocks|$OLD;$V;$SCHED;s/blocks: 3/blocks: 2/"
  "  same, lr 4e-3|$OLD;$V;$SCHED;s/learning_rate: 0.002/learning_rate: 0.004/"
  "  + min-SNR weighting, gamma 5 (the previous demo)|$PREV"
  "    same, lr 4e-3|$PREV;s/learning_rate: 0.002/learning_rate: 0.004/"
  "    same, EMA decay 0.999|$PREV;s/ema_decay: 0.995/ema_decay: 0.999/"
  "    same, 10,000 steps|$PREV;s/steps: 6000/steps: 10000/"
  "    the previous demo, training seed 2|$PREV;s/^  seed: 1$/  seed: 2/"
  "    the previous demo, training seed 3|$PREV;s/^  seed: 1$/  seed: 3/"
  "    same, sigmoid schedule (Chen 2023: -3..3, tau 1)|$PREV;s/schedule: COSINE num_steps/schedule: SIGMOID num_steps/"
  "    same, batch 1024|$PREV;s/batch_size: 512/batch_size: 1024/"
  "    same, width 192|$PREV;s/hidden: 128/hidden: 192/"
  "    same, min-SNR gamma 1|$PREV;s/loss_weighting: MIN_SNR/loss_weighting: MIN_SNR min_snr_gamma: 1/"
  "    same, batch 1024 + sigmoid schedule|$PREV;s/batch_size: 512/batch_size: 1024/;s/schedule: COSINE num_steps/schedule: SIGMOID num_steps/"
  "    same, 32 Fourier features, scale 0.25|$PREV;s/blocks: 3/blocks: 3 fourier_features: 32 fourier_scale: 0.25/"
  "    same, 32 Fourier features, scale 0.5|$PREV;s/blocks: 3/blocks: 3 fourier_features: 32 fourier_scale: 0.5/"
  "    same, 32 Fourier features, scale 1|$PREV;s/blocks: 3/blocks: 3 fourier_features: 32 fourier_scale: 1/"
  "    same, 32 Fourier features, scale 0.125|$PREV;s/blocks: 3/blocks: 3 fourier_features: 32 fourier_scale: 0.125/"
  "    same, 16 Fourier features, scale 0.25|$PREV;s/blocks: 3/blocks: 3 fourier_features: 16 fourier_scale: 0.25/"
  "    same, 64 Fourier features, scale 0.25|$PREV;s/blocks: 3/blocks: 3 fourier_features: 64 fourier_scale: 0.25/"
  "    Fourier 32 x 0.25 + sigmoid (the demo now)|"
  "      same, batch 1024|s/batch_size: 512/batch_size: 1024/"
  "      same, Fourier scale 0.125, batch 1024|s/fourier_scale: 0.25/fourier_scale: 0.125/;s/batch_size: 512/batch_size: 1024/"
)
summary="$OUT/summary.txt"
{
  machine_line
  printf '%-52s %8s %9s %9s %10s\n' recipe train_s off-mode mean_ll sliced_W2
} | tee -a "$summary"
i=0
for row in "${rows[@]}"; do
  i=$((i + 1))
  [[ -n "$ONLY" && ",$ONLY," != *",$i,"* ]] && continue
  label="${row%%|*}"
  edits="${row#*|}"
  results=()
  for seed in $SEEDS; do
    dir="$OUT/row$i"
    [[ $seed != 1 ]] && dir="$OUT/row${i}_seed$seed"
    mkdir -p "$dir"
    sed -e "$edits" -e "s/^  seed: 1$/  seed: $seed/" < "$BASE" > "$dir/pipeline.pbtxt"
    start=$SECONDS
    "$DIFFUSE" train --pipeline="$dir/pipeline.pbtxt" --out="$dir" > "$dir/train.log" 2>&1
    seconds=$((SECONDS - start))
    "$DIFFUSE" sample --pipeline="$dir/pipeline.pbtxt" --checkpoint="$dir/checkpoint.pt" \
      --num=4000 --seed=7 --out="$dir/samples.npy" > /dev/null 2>&1
    read -r _ _ off ll w2 < <("$DIFFUSE" eval --pipeline="$dir/pipeline.pbtxt" \
      --samples="$dir/samples.npy" 2> /dev/null | grep "samples.npy")
    results+=("$seconds $off $ll $w2")
    first_samples="${first_samples:-$dir/samples.npy}"
  done
  # One training seed: that run's figures; several: their means, then each seed's off-mode.
  printf '%s\n' "${results[@]}" | awk -v label="$label" -v n="$(wc -w <<< "$SEEDS")" '
    { t += $1; o += $2; l += $3; w += $4; offs = offs (NR > 1 ? " " : "") $2 }
    END { printf "%-52s %8d %9.4f %9.4f %10.4f%s\n", label, t / NR, o / NR, l / NR, w / NR,
          (n > 1 ? "   off-mode per seed: " offs : "") }' | tee -a "$summary"
done
"$DIFFUSE" eval --pipeline="$BASE" --samples="$first_samples" 2> /dev/null \
  | grep "^exact samples" | awk '{printf "%-52s %8s %9s %9s %10s\n", "exact samples (reference)", "", $5, $6, $7}' \
  | tee -a "$summary"
echo "wrote $summary"
