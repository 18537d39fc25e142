"""The reverse steps of //benchmarks:reverse_benchmark written in Python with PyTorch, timed
the same way, and compared with the C++ results.

Usage: python3 reverse_step.py CPP_RESULTS.json [THREADS]
The C++ JSON comes from reverse_benchmark --benchmark_format=json (see run.sh). Both sides use
THREADS intra-op threads (default 1) and the same tensors' shapes; the Python steps are written as diffusers
writes them (coefficients looked up from an alphas_cumprod tensor at each step).
"""
import ctypes
import json
import math
import statistics
import sys
import timeit

import torch

torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
T = 1000
betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
alphas_cumprod = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)])


def ddim_step(x_t, x0, t, s):
    """Substitution / DDIM (eta = 0) given x0_hat, as diffusers' DDIMScheduler.step."""
    alpha_prod_t = alphas_cumprod[t]
    alpha_prod_prev = alphas_cumprod[s]
    beta_prod_t = 1 - alpha_prod_t
    pred_epsilon = (x_t - alpha_prod_t ** 0.5 * x0) / beta_prod_t ** 0.5
    return alpha_prod_prev ** 0.5 * x0 + (1 - alpha_prod_prev) ** 0.5 * pred_epsilon


def ddpm_step(x_t, x0, t, s, generator):
    """Ancestral step (eta = 1) given x0_hat, as DDIMScheduler.step with eta = 1."""
    alpha_prod_t = alphas_cumprod[t]
    alpha_prod_prev = alphas_cumprod[s]
    beta_prod_t = 1 - alpha_prod_t
    pred_epsilon = (x_t - alpha_prod_t ** 0.5 * x0) / beta_prod_t ** 0.5
    variance = (1 - alpha_prod_prev) / beta_prod_t * (1 - alpha_prod_t / alpha_prod_prev)
    std = variance ** 0.5
    direction = (1 - alpha_prod_prev - std ** 2) ** 0.5 * pred_epsilon
    noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
    return alpha_prod_prev ** 0.5 * x0 + direction + std * noise


def dpmpp_2m_step(x_t, x0, x0_prev, t, s, t_prev_prev):
    """DPM-Solver++(2M) multistep update, as k-diffusion's sample_dpmpp_2m in (alpha, sigma)."""
    def lam(k):
        a = alphas_cumprod[k]
        return 0.5 * torch.log(a) - 0.5 * torch.log(1 - a)
    a_t, a_s = alphas_cumprod[t], alphas_cumprod[s]
    sigma_t, sigma_s = (1 - a_t) ** 0.5, (1 - a_s) ** 0.5
    h = lam(s) - lam(t)
    r = (lam(t) - lam(t_prev_prev)) / h
    d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
    return (sigma_s / sigma_t) * x_t - a_s ** 0.5 * torch.expm1(-h) * d


def python_median_ns(fn, number):
    runs = timeit.repeat(fn, number=number, repeat=5)
    return statistics.median(runs) / number * 1e9


def main():
    cpp = {}
    for b in json.load(open(sys.argv[1]))["benchmarks"]:
        if b.get("aggregate_name") == "median":
            cpp[b["run_name"]] = b["real_time"]  # ns
    cases = [("substitution (DDIM)", "kSubstitution", ddim_step),
             ("partial_substitution eta=1 (DDPM)", "kDdpm", ddpm_step),
             ("dpmpp_2m", "kDpmpp2m", dpmpp_2m_step)]
    generator = torch.Generator().manual_seed(0)
    rows = []
    for label, name, step in cases:
        for arg, shape in [(1, (1, 2)), (1000, (1000, 2)), (100000, (100000, 2)), (0, (64, 1, 28, 28))]:
            x_t, x0, x0_prev = torch.randn(shape), torch.randn(shape), torch.randn(shape)
            if step is ddim_step:
                fn = lambda x_t=x_t, x0=x0: ddim_step(x_t, x0, 500, 480)
            elif step is ddpm_step:
                fn = lambda x_t=x_t, x0=x0: ddpm_step(x_t, x0, 500, 480, generator)
            else:
                fn = lambda x_t=x_t, x0=x0, x0_prev=x0_prev: dpmpp_2m_step(x_t, x0, x0_prev, 480, 460, 500)
            ours = cpp.get(f"BM_ReverseStep<{name}>/{arg}")
            if ours is not None:
                rows.append((label, shape, ours, fn))
    number = lambda shape: max(3, int(20000 / max(1, math.prod(shape) / 100)))
    stock = [python_median_ns(fn, number(shape)) for _, shape, _, fn in rows]
    # The same allocator settings as util/runtime.cc (glibc mallopt: M_MMAP_THRESHOLD = -3,
    # M_TRIM_THRESHOLD = -1): without them every tensor above 128 KiB is a fresh mmap.
    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(-3, 32 << 20)
    libc.mallopt(-1, 1 << 30)
    tuned = [python_median_ns(fn, number(shape)) for _, shape, _, fn in rows]
    print(f"{'step':36s} {'shape':>12s} {'C++ (us)':>9s} {'Py (us)':>9s} {'Py/C++':>7s} "
          f"{'Py mallopt (us)':>16s} {'Py mallopt/C++':>15s}")
    for (label, shape, ours, _), py, py_tuned in zip(rows, stock, tuned):
        print(f"{label:36s} {'x'.join(map(str, shape)):>12s} {ours / 1e3:9.2f} {py / 1e3:9.2f} "
              f"{py / ours:7.2f} {py_tuned / 1e3:16.2f} {py_tuned / ours:15.2f}")


if __name__ == "__main__":
    main()
