"""Where a ring sample set's off-mode points lie (docs/recipes.md): between neighbouring
modes (angular offset larger than radial) or off the ring radially, for the default
eight_gaussians data (radius 4, std 0.3); off-mode as in eval/mixture_metrics.cc.

Usage: /usr/bin/python3 tools/ring_off_mode.py SAMPLES.npy [...]
"""
import sys, numpy as np
for path in sys.argv[1:]:
    x = np.load(path).astype(np.float64)
    mu = 4 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
    off = np.sqrt(((x[:, None] - mu[None]) ** 2).sum(-1)).min(1) / 0.3 > 3
    ang = np.arctan2(x[:, 1], x[:, 0]); r = np.hypot(x[:, 0], x[:, 1])
    tang = np.abs(ang - np.round(ang / (np.pi / 4)) * np.pi / 4) * 4 > np.abs(r - 4)
    print(f"{path}: off-mode {off.mean():.4f}: between modes {(off & tang).mean():.4f}, radial {(off & ~tang).mean():.4f}")
