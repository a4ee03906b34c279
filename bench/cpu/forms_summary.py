#!/usr/bin/env python3
"""The table of bench/cpu/forms_device.sh's results: per run and thread count, each form's min cosine to torch fp32,
one 16-token text p50 and 32 x 128 tokens/s, with ratios to fp32 of the same run and thread count; then, per thread
count and form, the median of those ratios over the runs (with the lowest and highest), which is what to quote where
the machine's noise moves single runs.
  python3 bench/cpu/forms_summary.py OUT_DIR"""
import glob, json, os, re, sys
from statistics import median

rows = {}
for path in glob.glob(os.path.join(sys.argv[1], "run*-t*-*.json")):
    m = re.match(r"run(\d+)-t(\d+)-(.+)\.json$", os.path.basename(path))
    rows[(int(m[1]), int(m[2]), m[3])] = json.load(open(path))
forms = ["fp32", "nbits-acc4", "dynamic-full", "dynamic-reduced"]
ratios = {}  # (threads, form) -> [(one-text speed, batch throughput) against fp32, one per run]
print("| run | threads | form | identity suffix | min cosine | 16-token p50 ms (x fp32) | 32x128 tokens/s (x fp32) |")
print("|---|---|---|---|---|---|---|")
for run, threads in sorted({(r, t) for r, t, _ in rows}, key=lambda k: (k[0], -k[1])):
    base = rows.get((run, threads, "fp32"))
    for form in forms:
        r = rows.get((run, threads, form))
        if r is None: continue
        suffix = "+" + r["numerics"].split("+", 1)[1] if "+" in r["numerics"] else "(file as is)"
        single = f'{r["single_16_tokens_ms_p50"]:.1f}'
        batch = f'{r["batch_32x128_tokens_per_s"]:.0f}'
        if base:
            speed = base["single_16_tokens_ms_p50"] / r["single_16_tokens_ms_p50"]
            throughput = r["batch_32x128_tokens_per_s"] / base["batch_32x128_tokens_per_s"]
            single += f" ({speed:.2f}x)"
            batch += f" ({throughput:.2f}x)"
            if form != "fp32": ratios.setdefault((threads, form), []).append((speed, throughput))
        print(f'| {run} | {threads} | {form} | {suffix} | {r["min_cosine"]:.5f} | {single} | {batch} |')

if any(len(v) > 1 for v in ratios.values()):
    def spread(xs):
        return f"{median(xs):.2f}x ({min(xs):.2f}-{max(xs):.2f})"
    print()
    print("| threads | form | runs | 16-token speed vs fp32, median (min-max) | 32x128 tokens/s vs fp32, median (min-max) |")
    print("|---|---|---|---|---|")
    for (threads, form), v in sorted(ratios.items(), key=lambda k: (-k[0][0], forms.index(k[0][1]))):
        print(f"| {threads} | {form} | {len(v)} | {spread([a for a, _ in v])} | {spread([b for _, b in v])} |")
