#!/usr/bin/env python3
"""Writes Fashion-MNIST images of some classes as .npy [N, 1, 28, 28] in [-1, 1] (the
toolkit's scaling), for `diffuse edit --learn_images` / `--images`.

  python3 tools/fashion_subset.py --split=train --classes=7 --first=0 --count=256 OUT.npy
--classes: comma-separated class ids (default: every class); the images are those of these
classes in file order, from the --first-th on.
"""
import argparse
import gzip
import os

import numpy as np

DIR = "/usr/share/datasets/fashion-mnist"


def read(split):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(os.path.join(DIR, f"{prefix}-images-idx3-ubyte.gz")) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(os.path.join(DIR, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    return images, labels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", choices=["train", "test"], required=True)
    parser.add_argument("--classes", default="")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("out")
    args = parser.parse_args()
    images, labels = read(args.split)
    if args.classes:
        keep = np.isin(labels, [int(c) for c in args.classes.split(",")])
        images = images[keep]
    images = images[args.first:args.first + args.count]
    if len(images) < args.count:
        raise SystemExit(f"only {len(images)} images of classes {args.classes} from {args.first}")
    x = images.astype(np.float32) / 127.5 - 1
    tmp = args.out + ".tmp.npy"
    np.save(tmp, x)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
