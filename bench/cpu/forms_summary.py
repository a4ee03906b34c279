#!/usr/bin/env python3
"""The table of bench/cpu/forms_device.sh's results: per run and thread count, each form's min cosine to torch fp32,
one 16-token text p50 and 32 x 128 tokens/s, with ratios to fp32 of the same run and thread count.
  python3 bench/cpu/forms_summary.py OUT_DIR"""
import glob, json, os, re, sys

rows = {}
for path in glob.glob(os.path.join(sys.argv[1], "run*-t*-*.json")):
    m = re.match(r"run(\d+)-t(\d+)-(.+)\.json$", os.path.basename(path))
    rows[(int(m[1]), int(m[2]), m[3])] = json.load(open(path))
forms = ["fp32", "nbits-acc4", "dynamic-full", "dynamic-reduced"]
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
            single += f' ({base["single_16_tokens_ms_p50"] / r["single_16_tokens_ms_p50"]:.2f}x)'
            batch += f' ({r["batch_32x128_tokens_per_s"] / base["batch_32x128_tokens_per_s"]:.2f}x)'
        print(f'| {run} | {threads} | {form} | {suffix} | {r["min_cosine"]:.5f} | {single} | {batch} |')
