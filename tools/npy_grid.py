#!/usr/bin/env python3
"""Tiles images from .npy files ([N, C, H, W] in [-1, 1]) into one PNG (numpy + zlib only).

  npy_grid.py OUT.png ROWS A.npy [B.npy ...]      each file is a column: its first ROWS images
  npy_grid.py OUT.png ROWS --interleave A.npy     image i of A at row i % ROWS, column i // ROWS

Pictures are scaled 2x with a 2-pixel white border (as `diffuse sample --png`).
"""
import struct
import sys
import zlib

import numpy as np


def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))
    chunk = lambda t, b: struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    out, rows, args = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    if args[0] == "--interleave":
        x = np.load(args[1])
        columns = [x[c * rows:(c + 1) * rows] for c in range(len(x) // rows)]
    else:
        columns = [np.load(a)[:rows] for a in args]
    c, h, w = columns[0].shape[1:]
    zoom, border = 2, 2
    cell_h, cell_w = h * zoom + border, w * zoom + border
    grid = np.full((rows * cell_h + border, len(columns) * cell_w + border, 3), 255, np.uint8)
    for j, column in enumerate(columns):
        for i, image in enumerate(column):
            pixels = np.clip((image + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
            pixels = np.repeat(pixels, 3, 0) if c == 1 else pixels
            pixels = pixels.transpose(1, 2, 0).repeat(zoom, 0).repeat(zoom, 1)
            y, x = border + i * cell_h, border + j * cell_w
            grid[y:y + h * zoom, x:x + w * zoom] = pixels
    write_png(out, grid)


if __name__ == "__main__":
    main()
