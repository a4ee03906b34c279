#!/usr/bin/env python3
"""How fast this machine's cores read memory: the sum of a 1 GiB float32 tensor (far larger than any cache), at 1 thread
and at THREADS (default: all cores), best of 5. One 16-token text reads the 0.6B model's 1.76 GB of non-embedding
weights as FP32 and 0.44 GB as int8, so this says how far each form's time is from the bytes it reads.
Needs torch.   /usr/bin/python3 bench/cpu/read_bandwidth.py [THREADS]
"""
import os, sys, time
import torch

GIB = 1 << 30
x = torch.ones(GIB // 4, dtype=torch.float32)
for threads in sorted({1, int(sys.argv[1]) if len(sys.argv) > 1 else os.cpu_count()}):
    torch.set_num_threads(threads)
    x.sum(); x.sum()  # warm: pages mapped, threads started
    times = []
    for _ in range(5):
        start = time.perf_counter()
        x.sum()
        times.append(time.perf_counter() - start)
    best = min(times)
    print(f"{threads} thread(s): 1 GiB in {best * 1e3:.1f} ms, {GIB / best / 1e9:.1f} GB/s")
