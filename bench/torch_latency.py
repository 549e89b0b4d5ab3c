#!/usr/bin/env python3
"""Latency of the PyTorch peer: time to generate a few rows with a warm model.

  /usr/bin/python3 bench/torch_latency.py [--threads 1] [--seconds 2] [--rows 1 16]
                                          [--peer ../shared/bench/torch_ref.py]

The model is the peer's own (Encoder, Decoder, Denoiser of torch_ref.py, seed defaults: input
287, latent 32, hidden 256, 4 blocks, 1000 steps), under torch.inference_mode(). Each call draws
x_T ~ N(0, I), runs DDIM-50 (eta 0, leading spacing) or DPM-Solver++(2M)-20 (Lu et al. 2022,
Algorithm 2, first order on the first and last step, landing on clean data) and decodes, as
ldm_bench's BM_Ddim50SampleDecode / BM_Dpm20SampleDecode do. Prints one line per case:
  ddim50 rows=1: 12.345 ms
"""
import argparse
import importlib.util
import math
import time
from pathlib import Path

import torch

I, L, H, N, T = 287, 32, 256, 4, 1000


def load_peer(path):
    spec = importlib.util.spec_from_file_location("torch_ref", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ddim(den, dec, abar, rows, steps):
    ts = [(steps - 1 - i) * (T // steps) for i in range(steps)]  # diffusers' leading spacing
    z = torch.randn(rows, L)
    t_vec = torch.empty(rows, dtype=torch.long)
    for i, t in enumerate(ts):
        e = den(z, t_vec.fill_(t))
        ab = abar[t]
        ab_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x0 = (z - math.sqrt(1 - ab) * e) / math.sqrt(ab)
        z = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * e
    return dec(z)


def dpmpp_2m(den, dec, abar, rows, steps):
    # diffusers' DPMSolverMultistepScheduler timesteps (leading, steps + 1 entries, last dropped)
    ts = [(steps - i) * (T // (steps + 1)) for i in range(steps)]
    z = torch.randn(rows, L)
    t_vec = torch.empty(rows, dtype=torch.long)
    level = lambda t: (1.0, 1.0, 0.0) if t < 0 else (abar[t], math.sqrt(abar[t]), math.sqrt(1 - abar[t]))
    lam = lambda n: math.log(n[1] / n[2])
    x0_prev, lam_prev = None, 0.0
    for i, s in enumerate(ts):
        t = ts[i + 1] if i + 1 < len(ts) else -1
        ns, nt = level(s), level(t)
        e = den(z, t_vec.fill_(s))
        x0 = (z - ns[2] * e) / ns[1]
        last = t < 0
        h = 0.0 if last else lam(nt) - lam(ns)
        em1 = -1.0 if last else math.expm1(-h)
        c_z, c_d = nt[2] / ns[2], -nt[1] * em1
        if i == 0 or last:
            z = c_z * z + c_d * x0
        else:
            r0 = (lam(ns) - lam_prev) / h
            z = c_z * z + c_d * ((1 + 0.5 / r0) * x0 - (0.5 / r0) * x0_prev)
        lam_prev, x0_prev = lam(ns), x0
    return dec(z)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--rows", type=int, nargs="+", default=[1, 16])
    p.add_argument("--peer", default=str(Path(__file__).resolve().parents[2] / "shared" / "bench" / "torch_ref.py"))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    ref = load_peer(a.peer)
    dec, den = ref.Decoder(I, L, H).eval(), ref.Denoiser(L, H, N, T).eval()
    abar = [float(v) for v in ref.linear_schedule(T)[1]]
    with torch.inference_mode():
        for name, fn, steps in (("ddim50", ddim, 50), ("dpm20", dpmpp_2m, 20)):
            for rows in a.rows:
                for _ in range(3):
                    fn(den, dec, abar, rows, steps)
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < a.seconds:
                    fn(den, dec, abar, rows, steps)
                    n += 1
                print(f"{name} rows={rows}: {(time.perf_counter() - t0) / n * 1e3:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
