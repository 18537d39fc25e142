#!/usr/bin/env python3
"""The few-step table of docs/few_steps.md from tools/few_steps.sh's summary.txt.

  python3 tools/few_steps_table.py out/few_steps/summary.txt
One row per method, one column per number of network calls: the Frechet distance of the
evaluation classifier's features (N samples against N real training images) and the
sampling time per image in ms (wall time of `diffuse sample` for N, start-up included,
divided by N); then the floor and the training runs (the last figures of each name).
"""
import re
import sys

LABELS = {
    "ddim": "DDIM (teacher)",
    "dpmpp_2m": "DPM-Solver++(2M) (teacher)",
    "dpmpp_3m": "DPM-Solver++(3M) (teacher)",
    "unipc": "UniPC-3, bh2 (teacher)",
    "cd": "consistency distillation",
    "ct": "consistency training (no teacher)",
    "pd": "progressive distillation",
}


def main():
    scores, times, trained = {}, {}, {}
    floor, name = None, None
    for line in open(sys.argv[1]):
        line = line.rstrip("\n")
        m = re.match(r"(\w+): trained the network steps (\d+)\.\.(\d+) in ([\d.]+) s", line)
        if m:
            trained[m.group(1)] = (int(m.group(3)), float(m.group(4)))
            continue
        m = re.match(r"== (\S+)$", line)
        if m:
            name = m.group(1)
            continue
        m = re.match(r"(\w+): sampled (\d+) in ([\d.]+) s", line)
        if m:
            times[m.group(1)] = 1000 * float(m.group(3)) / int(m.group(2))
            continue
        m = re.match(r"real training images \(floor\)\s+(\d+)\s+\S+\s+([\d.]+)", line)
        if m:
            floor = (int(m.group(1)), float(m.group(2)))
            continue
        m = re.match(r"samples \(unlabelled\)\s+(\d+)\s+-\s+([\d.]+)", line)
        if m and name:
            scores[name] = float(m.group(2))
    calls = sorted({int(k.rsplit("_", 1)[1]) for k in scores})
    methods = [m for m in LABELS if any(k.startswith(m + "_") for k in scores)]
    print("| method | " + " | ".join(f"{c} call{'s' if c > 1 else ''}" for c in calls) + " |")
    print("| --- |" + " --- |" * len(calls))
    for m in methods:
        cells = []
        for c in calls:
            key = f"{m}_{c}"
            cells.append(f"{scores[key]:.2f} ({times.get(key, 0):.1f} ms)" if key in scores else "")
        print(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    if floor:
        print(f"\nfloor (real training images, n = {floor[0]}): {floor[1]:.2f}; 2x floor {2 * floor[1]:.2f}")
    for m, (steps, seconds) in trained.items():
        print(f"{m}: {steps} steps, {seconds:.0f} s ({seconds / 60:.1f} min)")


if __name__ == "__main__":
    main()
