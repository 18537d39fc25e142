"""The U-Net of models/unet.cc (default UNetOptions, unet_train.py's copy) at inference in
Python with PyTorch: one forward at batch 64 x 1 x 28 x 28 and a 50-step DDIM run of 64
images, timed like //benchmarks:unet_benchmark's BM_UNetForward / BM_UNetSample50Steps and
compared with their results. A third Python run puts the network in bfloat16 (oneDNN's
AVX512-BF16 / AMX kernels where the CPU has them), the measurement behind not offering a
bfloat16 network in the toolkit.

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

    def timings(net):
        def forward():
            with torch.inference_mode():
                net(x, t)

        def sample():
            with torch.inference_mode():
                ddim_sample(net, x, alphas_cumprod)

        return {"forward": median_seconds(forward), "sample": once_seconds(sample)}

    py = timings(model)
    libc = ctypes.CDLL("libc.so.6")  # util/runtime.cc's settings, as in unet_train.py
    libc.mallopt(-3, 32 << 20)
    libc.mallopt(-1, 1 << 30)
    py_tuned = timings(model)
    # The same weights in bfloat16, with the same mallopt settings: input rounded to
    # bfloat16, output widened back, the DDIM arithmetic in float32.
    model_bf16 = UNet().eval()
    model_bf16.load_state_dict(model.state_dict())
    model_bf16 = model_bf16.to(torch.bfloat16)
    py_bf16 = timings(lambda x_t, t_in: model_bf16(x_t.to(torch.bfloat16), t_in).float())

    def cpp_seconds(run_name):  # e.g. "BM_UNetSample50Steps" (its "/iterations:1" dropped)
        for b in cpp.values():
            if (b["run_name"].split("/iterations:")[0] == run_name
                    and b.get("run_type") == "aggregate" and b["aggregate_name"] == "median"):
                return b["real_time"] / {"ms": 1e3, "us": 1e6, "ns": 1e9}[b["time_unit"]]
        return float("nan")

    ours = {"forward": cpp_seconds("BM_UNetForward"), "sample": cpp_seconds("BM_UNetSample50Steps")}
    print(f"U-Net inference, batch 64 x 1 x 28 x 28, {threads} intra-op threads")
    print(f"{'':40} {'forward (ms)':>13} {'50 DDIM steps (s)':>18}")
    for name, r in (("Python eager, inference_mode", py), ("Python, mallopt as ours", py_tuned),
                    ("Python, bfloat16 network (mallopt)", py_bf16), ("C++ (diffuse)", ours)):
        print(f"{name:40} {r['forward'] * 1e3:13.1f} {r['sample']:18.2f}")
    print(f"C++ speed-up: forward {py['forward'] / ours['forward']:.2f}x, "
          f"50-step sampling {py['sample'] / ours['sample']:.2f}x "
          f"(against Python with the same mallopt settings: "
          f"{py_tuned['forward'] / ours['forward']:.2f}x, {py_tuned['sample'] / ours['sample']:.2f}x)")
    print(f"bfloat16 network against float32 (Python, same mallopt settings): forward "
          f"{py_tuned['forward'] / py_bf16['forward']:.2f}x, 50-step sampling "
          f"{py_tuned['sample'] / py_bf16['sample']:.2f}x")

if __name__ == "__main__":
    main()
