#!/usr/bin/env python3
"""The table of docs/guidance.md's "Editing real images" from tools/edit.sh's summary.txt.

  python3 tools/edit_table.py out/edit/summary.txt
One row per scored output (the last score of each name): seconds to make it, the target
word's adherence, the class kept, the identity (feature distance to the original over the
distance to another image), the mean |pixel change| and the edit loss's mean.
"""
import re
import sys


def main():
    rows, order, seconds = {}, [], {}
    name = None
    for line in open(sys.argv[1]):
        m = re.match(r"== (\S+): (\d+) s", line)
        if m:
            seconds[m.group(1)] = m.group(2)
            continue
        m = re.match(r"== (\S+)", line)
        if m:
            name = m.group(1)
            if name not in rows:
                order.append(name)
            rows[name] = {}
            continue
        if name is None:
            continue
        m = re.match(r"edit loss of the \w+ against the originals: mean ([\d.]+)", line)
        if m:
            rows[name]["loss"] = m.group(1)
        m = re.match(r"same class as \S+: ([\d.]+)", line)
        if m:
            rows[name]["kept"] = m.group(1)
        m = re.match(r"identity to \S+: feature distance ([\d.]+) .*ratio ([\d.]+)\), mean \|pixel change\| ([\d.]+)", line)
        if m:
            rows[name]["ratio"], rows[name]["pixels"] = m.group(2), m.group(3)
        m = re.match(r"samples \(labels from \S+\) +\d+ +([\d.]+)", line)
        if m:
            rows[name]["adherence"] = f"class (labels) {m.group(1)}"
        m = re.match(r"  (\w+) +([\d.]+) \(", line)
        if m:
            rows[name]["adherence"] = f"{m.group(1)} {m.group(2)}"
    print("| output | seconds | target word holds | class kept | identity (distance ratio) | mean \\|Δpixel\\| | edit loss |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in order:
        r = rows[n]
        print(f"| {n} | {seconds.get(n, '')} | {r.get('adherence', '')} | {r.get('kept', '')} | "
              f"{r.get('ratio', '')} | {r.get('pixels', '')} | {r.get('loss', '')} |")


if __name__ == "__main__":
    main()
