"""Where a U-Net training step's time goes: a per-op profile (torch.profiler, CPU) of one
eps-prediction training step of the U-Net in unet_train.py (the same network, ops and
LibTorch kernels as models/unet.cc, so the split holds for the C++ step too), batch 64,
after two warm-up steps, with util/runtime.cc's mallopt settings.

Usage: OMP_NUM_THREADS=T python3 unet_profile.py [T]
Prints the ops by self CPU time, grouped into convolution (forward and backward), GEMM
(linear, attention products), normalization, element-wise / activation, optimizer and the
rest, with each group's share of the step.
"""
import ctypes
import sys

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from unet_train import UNet

GROUPS = [
    ("convolution", ("conv", "mkldnn_convolution", "thnn_conv", "slow_conv", "_convolution")),
    ("GEMM (linear, attention bmm)", ("addmm", "mm", "bmm", "linear", "matmul")),
    ("GroupNorm", ("group_norm", "native_group_norm")),
    ("optimizer (Adam)", ("_foreach", "adam", "lerp", "addcdiv", "addcmul", "sqrt")),
    ("softmax", ("softmax",)),
    ("element-wise / activation", ("add", "mul", "silu", "sub", "div", "sigmoid", "cat",
                                   "upsample", "copy_", "fill_", "zero_", "clone", "mse")),
]


def group_of(name):
    n = name.lower()
    for group, keys in GROUPS:
        if any(k in n for k in keys):
            return group
    return "other"


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 32 << 20)
    libc.mallopt(-1, 1 << 30)
    torch.manual_seed(0)
    model = UNet()
    x_t = torch.randn(64, 1, 28, 28)
    eps = torch.randn_like(x_t)
    t = torch.randint(1, 1001, (64,))
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        adam.zero_grad()
        F.mse_loss(model(x_t, t), eps).backward()
        adam.step()

    step()
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    groups = {}
    for e in events:
        g = group_of(e.key)
        groups[g] = groups.get(g, 0) + e.self_cpu_time_total
    print(f"U-Net training step, batch 64, {threads} threads: {total / 1e3:.1f} ms of self CPU "
          f"time (profiled; the profiler adds its own overhead)")
    for g, us in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {g:32s} {us / 1e3:8.1f} ms  {us / total:6.1%}")
    print("\ntop ops by self CPU time:")
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:15]:
        print(f"  {e.key:48s} {e.count:5d} calls {e.self_cpu_time_total / 1e3:8.1f} ms "
              f"{e.self_cpu_time_total / total:6.1%}")


if __name__ == "__main__":
    main()
