#!/usr/bin/env python3
"""The ablation table of docs/fashion_mnist.md ("What each choice does") from
tools/fashion_mnist_ablation.sh's summary.txt.

  python3 tools/fashion_mnist_ablation_table.py out/fmnist_ablation/summary.txt
One row per model (the last figures of each name): training steps and seconds (of the last
run of the training: after a resume, of the steps it ran), the Frechet
distance of the sample sets drawn with sampler seeds 11 and 12 (N each) and of both pooled
(2N), with the real-image floor at 2N.
"""
import re
import sys

LABELS = {
    "recipe": "the recipe (v, min-SNR, cosine lr, EMA warm-up, attention at 7x7, x0 clamped)",
    "recipe_no_clip": "recipe, x0 not clamped when sampling",
    "recipe_dynamic": "recipe, dynamic thresholding (0.995) instead of the clamp",
    "eps": "eps instead of v",
    "edm": "EDM preconditioning instead of v",
    "plain": "plain loss instead of min-SNR",
    "constant_lr": "constant lr instead of cosine decay",
    "ema_no_warmup": "EMA without warm-up",
    "no_attention": "no attention at 7x7 (middle block only)",
    "linear": "linear betas instead of the cosine schedule",
    "wide": "base_channels 48 instead of 32",
}


def main():
    trained, scores, floors, order = {}, {}, {}, []
    name = None
    for line in open(sys.argv[1]):
        m = re.match(r"(\w+): trained the network steps (\d+)\.\.(\d+) in ([\d.]+) s", line)
        if m:
            trained[m.group(1)] = (int(m.group(2)), int(m.group(3)), float(m.group(4)))
            continue
        m = re.match(r"== (\S+)$", line.strip())
        if m:
            name = m.group(1)
            continue
        m = re.match(r"real training images \(floor\)\s+(\d+)\s+\S+\s+([\d.]+)", line)
        if m and name:
            floors[name] = (int(m.group(1)), float(m.group(2)))
            continue
        m = re.match(r"samples \(unlabelled\)\s+(\d+)\s+-\s+([\d.]+)", line)
        if m and name:
            scores[name] = float(m.group(2))
    for key in scores:
        model = re.sub(r"_(seed12_|pooled_)?ddim$", "", key)
        if model not in order:
            order.append(model)
    print("| model | steps | training (s) | Frechet, seed 11 | seed 12 | pooled (2N) | pooled floor |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model in order:
        start, steps, seconds = trained.get(re.sub(r"_(no_clip|dynamic)$", "", model), (0, None, None))
        floor = floors.get(model + "_pooled_ddim", (None, None))[1]
        time = "" if seconds is None else f"{seconds:.0f}"
        if start > 0:  # resumed after a stop: the time covers the steps after it
            time += f" (steps {start}..{steps})"
        cells = [LABELS.get(model, model), steps or "", time]
        for key in ("_ddim", "_seed12_ddim", "_pooled_ddim"):
            value = scores.get(model + key)
            cells.append(f"{value:.2f}" if value is not None else "")
        cells.append(f"{floor:.2f}" if floor is not None else "")
        print("| " + " | ".join(str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
