"""The U-Net of models/unet.cc (default UNetOptions) written in Python with PyTorch, one
eps-prediction training step (forward + backward + Adam) at batch 64 x 1 x 28 x 28, timed
like //benchmarks:unet_benchmark's BM_UNetTrainingStep and compared with its result.

Usage: python3 unet_train.py CPP_RESULTS.json THREADS
Also measures this machine's float32 peak with the same threads (a 2048^2 GEMM and a
64->64-channel 3x3 convolution) and the fraction of it that a training step reaches, counting
the multiply-adds of every convolution, linear layer and attention product (backward = 2x
forward, the usual count). The Python step is timed twice: with glibc's default allocator
settings and with the mallopt settings util/runtime.cc gives the C++ process.
"""
import ctypes
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(groups, cout, affine=False)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, 1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return (self.skip(x) if self.skip is not None else x) + h


class Attention(nn.Module):
    def __init__(self, c, groups):
        super().__init__()
        self.norm = nn.GroupNorm(groups, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x):
        b, c, hh, ww = x.shape
        q, k, v = self.qkv(self.norm(x)).view(b, 3, c, hh * ww).unbind(1)
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), -1)
        return x + self.proj(torch.bmm(v, w.transpose(1, 2)).view(x.shape))


def sinusoidal(t, dim):
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * (-math.log(10000.0) / half))
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], 1)


class UNet(nn.Module):
    def __init__(self, base=32, mult=(1, 2, 2), blocks=1, attn=(7,), groups=8, res=28):
        super().__init__()
        emb_dim = 4 * base
        self.base, self.mult, self.blocks = base, mult, blocks
        self.time1, self.time2 = nn.Linear(base, emb_dim), nn.Linear(emb_dim, emb_dim)
        self.input = nn.Conv2d(1, base, 3, padding=1)
        self.down_blocks, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleDict(), nn.ModuleList()
        skips, ch = [base], base
        for level, m in enumerate(mult):
            out = base * m
            for _ in range(blocks):
                if res in attn:
                    self.down_attn[str(len(self.down_blocks))] = Attention(out, groups)
                self.down_blocks.append(ResBlock(ch, out, emb_dim, groups))
                ch = out
                skips.append(ch)
            if level + 1 < len(mult):
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
                res = (res + 1) // 2
        self.mid1 = ResBlock(ch, ch, emb_dim, groups)
        self.mid_attn = Attention(ch, groups)
        self.mid2 = ResBlock(ch, ch, emb_dim, groups)
        self.up_blocks, self.up_attn, self.upsample = nn.ModuleList(), nn.ModuleDict(), nn.ModuleList()
        for level in reversed(range(len(mult))):
            out = base * mult[level]
            for _ in range(blocks + 1):
                if res in attn:
                    self.up_attn[str(len(self.up_blocks))] = Attention(out, groups)
                self.up_blocks.append(ResBlock(ch + skips.pop(), out, emb_dim, groups))
                ch = out
            if level > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
                res *= 2
        self.out_norm = nn.GroupNorm(groups, ch)
        self.output = nn.Conv2d(ch, 1, 3, padding=1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(self, x, t):
        # float32 embedding, then the weights' type (a bfloat16 model: unet_sample.py)
        emb = self.time2(F.silu(self.time1(sinusoidal(t, self.base).to(x.dtype))))
        h = self.input(x)
        skips = [h]
        block = 0
        for level in range(len(self.mult)):
            for _ in range(self.blocks):
                h = self.down_blocks[block](h, emb)
                if str(block) in self.down_attn:
                    h = self.down_attn[str(block)](h)
                skips.append(h)
                block += 1
            if level + 1 < len(self.mult):
                h = self.downsample[level](h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        block, up = 0, 0
        for level in reversed(range(len(self.mult))):
            for _ in range(self.blocks + 1):
                h = self.up_blocks[block](torch.cat([h, skips.pop()], 1), emb)
                if str(block) in self.up_attn:
                    h = self.up_attn[str(block)](h)
                block += 1
            if level > 0:
                target = skips[-1]
                h = F.interpolate(h, size=target.shape[2:], mode="nearest")
                h = self.upsample[up](h)
                up += 1
        return self.output(F.silu(self.out_norm(h)))


def forward_flops(model, x, t):
    """2 x multiply-adds of convolutions, linear layers and attention's two products."""
    total = [0]

    def conv_hook(m, inp, out):
        total[0] += 2 * out.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups

    def linear_hook(m, inp, out):
        total[0] += 2 * out.numel() * m.in_features

    def attn_hook(m, inp, out):
        b, c, hh, ww = inp[0].shape
        total[0] += 2 * 2 * b * (hh * ww) ** 2 * c

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, Attention):
            hooks.append(m.register_forward_hook(attn_hook))
    with torch.no_grad():
        model(x, t)
    for h in hooks:
        h.remove()
    return total[0]


def median_seconds(fn, repetitions=5, min_time=1.0):
    fn()  # warm-up
    times = []
    for _ in range(repetitions):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        times.append(elapsed / n)
    return statistics.median(times)


def main():
    cpp = json.load(open(sys.argv[1]))
    threads = int(sys.argv[2])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = UNet()
    params = sum(p.numel() for p in model.parameters())
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alphas_cumprod = torch.cumprod(1 - betas, 0).float()
    x0 = torch.rand(64, 1, 28, 28) * 2 - 1
    eps = torch.randn_like(x0)
    t = torch.randint(1, 1001, (64,))
    ab = alphas_cumprod[t - 1].view(-1, 1, 1, 1)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    adam = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        adam.zero_grad()
        F.mse_loss(model(x_t, t), eps).backward()
        adam.step()

    py_step = median_seconds(step)
    # The same allocator settings as util/runtime.cc (glibc mallopt: M_MMAP_THRESHOLD = -3,
    # M_TRIM_THRESHOLD = -1), so the comparison is not only about page faults.
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 32 << 20)
    libc.mallopt(-1, 1 << 30)
    py_tuned_step = median_seconds(step)
    flops = 3 * forward_flops(model, x_t, t)  # forward + backward (2x)

    a = torch.randn(2048, 2048)
    b = torch.randn(2048, 2048)
    gemm = 2 * 2048 ** 3 / median_seconds(lambda: torch.mm(a, b))
    conv = nn.Conv2d(64, 64, 3, padding=1)
    xc = torch.randn(32, 64, 56, 56)
    with torch.no_grad():
        conv_peak = 2 * 32 * 64 * 56 * 56 * 64 * 9 / median_seconds(lambda: conv(xc))

    cpp_step = next(b["real_time"] for b in cpp["benchmarks"]
                    if b["name"].startswith("BM_UNetTrainingStep") and b.get("aggregate_name") == "median") / 1e3
    cpp_params = next(b["params"] for b in cpp["benchmarks"] if b["name"].startswith("BM_UNetTrainingStep"))
    print(f"U-Net training step, batch 64 x 1 x 28 x 28, {threads} intra-op threads, medians of 5")
    print(f"parameters: Python {params}, C++ {int(cpp_params)}" + ("" if params == cpp_params else "  MISMATCH"))
    print(f"{'':24} {'ms/step':>9} {'images/s':>9} {'GFLOP/s':>8}")
    for name, s in (("Python", py_step), ("Python, mallopt as ours", py_tuned_step),
                    ("C++", cpp_step)):
        print(f"{name:24} {s * 1e3:9.1f} {64 / s:9.1f} {flops / s / 1e9:8.2f}")
    print(f"C++ / Python throughput: {py_step / cpp_step:.2f}x "
          f"({py_tuned_step / cpp_step:.2f}x against Python with the same mallopt settings)")
    print(f"training step: {flops / 1e9:.2f} GFLOP (3x forward multiply-adds x 2)")
    print(f"measured peak, {threads} threads: GEMM 2048^2 {gemm / 1e9:.1f} GFLOP/s, "
          f"conv 64->64 3x3 on 56x56 {conv_peak / 1e9:.1f} GFLOP/s")
    print(f"C++ step reaches {flops / cpp_step / gemm:.1%} of the GEMM peak, "
          f"{flops / cpp_step / conv_peak:.1%} of the conv peak")


if __name__ == "__main__":
    main()
