"""The U-Net of models/unet.cc (default UNetOptions, unet_train.py's copy) at inference in
Python with PyTorch: one forward at batch 64 x 1 x 28 x 28 and a 50-step DDIM run of 64
images, timed like //benchmarks:unet_benchmark's BM_UNetForward / BM_UNetSample50Steps and
compared with their results.

Usage: python3 unet_sample.py CPP_RESULTS.json THREADS
Python runs eager under torch.inference_mode() in the default (NCHW) layout, as a diffusers
pipeline does, twice: with glibc's default allocator settings, then with the mallopt settings
util/runtime.cc gives the C++ process. The DDIM loop is diffusers' DDIMScheduler.step at
eta = 0 on the linear schedule, 50 trailing steps.
"""
import ctypes
import json
import statistics
import sys
import time

import torch

from unet_train import UNet, median_seconds


def ddim_sample(model, x_T, alphas_cumprod, steps=50):
    ts = [int(round(1000 - i * 1000 / steps)) for i in range(steps)]  # trailing grid
    x = x_T
    for i, t in enumerate(ts):
        s = ts[i + 1] if i + 1 < steps else 0
        a_t, a_s = alphas_cumprod[t], alphas_cumprod[s]
        eps = model(x, torch.full((x.shape[0],), float(t)))
        x0 = (x - (1 - a_t).sqrt() * eps) / a_t.sqrt()
        x = a_s.sqrt() * x0 + (1 - a_s).sqrt() * eps
    return x


def once_seconds(fn, repetitions=3):
    fn()  # warm-up
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    cpp = {b["name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]}
    threads = int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = UNet().eval()
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alphas_cumprod = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])
    x = torch.randn(64, 1, 28, 28)
    t = torch.full((64,), 500.0)

    def forward():
        with torch.inference_mode():
            model(x, t)

    def sample():
        with torch.inference_mode():
            ddim_sample(model, x, alphas_cumprod)

    py = {"forward": median_seconds(forward), "sample": once_seconds(sample)}
    libc = ctypes.CDLL("libc.so.6")  # util/runtime.cc's settings, as in unet_train.py
    libc.mallopt(-3, 32 << 20)
    libc.mallopt(-1, 1 << 30)
    py_tuned = {"forward": median_seconds(forward), "sample": once_seconds(sample)}

    def cpp_seconds(prefix):
        for name, b in cpp.items():
            if name.startswith(prefix) and b.get("aggregate_name", "median") == "median":
                return b["real_time"] / {"ms": 1e3, "us": 1e6, "ns": 1e9}[b["time_unit"]]
        return float("nan")

    ours = {"forward": cpp_seconds("BM_UNetForward"), "sample": cpp_seconds("BM_UNetSample50Steps")}
    print(f"U-Net inference, batch 64 x 1 x 28 x 28, {threads} intra-op threads")
    print(f"{'':34} {'forward (ms)':>13} {'50 DDIM steps (s)':>18}")
    for name, r in (("Python eager, inference_mode", py), ("Python, mallopt as ours", py_tuned),
                    ("C++ (diffuse)", ours)):
        print(f"{name:34} {r['forward'] * 1e3:13.1f} {r['sample']:18.2f}")
    print(f"C++ speed-up: forward {py['forward'] / ours['forward']:.2f}x, "
          f"50-step sampling {py['sample'] / ours['sample']:.2f}x "
          f"(against Python with the same mallopt settings: "
          f"{py_tuned['forward'] / ours['forward']:.2f}x, {py_tuned['sample'] / ours['sample']:.2f}x)")


if __name__ == "__main__":
    main()
