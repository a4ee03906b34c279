#!/usr/bin/env python3
"""Per operator type, the time one run spends in it, from ONNX Runtime's profile (Worker:Onnx:ProfilePrefix, or
ONNX_PROFILE=prefix for Embedding.Bench cpuform): the last RUNS model runs of the file (default 20: cpuform's one-text
calls when run with 20 calls and 0 batch passes), operators' kernel time only. Given two files, the second's column
beside the first's (e.g. 2 threads and 1 thread).
  python3 bench/cpu/profile_summary.py PROFILE.json [OTHER.json] [RUNS]"""
import bisect, collections, json, sys

def summary(path, last):
    events = json.load(open(path))
    runs = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"][-last:]
    starts = [r["ts"] for r in runs]
    total, count = collections.Counter(), collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"): continue
        i = bisect.bisect_right(starts, e["ts"]) - 1
        if i >= 0 and e["ts"] <= runs[i]["ts"] + runs[i]["dur"]:
            total[e["args"]["op_name"]] += e["dur"]
            count[e["args"]["op_name"]] += 1
    n = len(runs)
    return sum(r["dur"] for r in runs) / n / 1000, {k: v / n / 1000 for k, v in total.items()}, {k: c // n for k, c in count.items()}

files = [a for a in sys.argv[1:] if a.endswith(".json")]
last = int(next((a for a in sys.argv[1:] if a.isdigit()), 20))
tables = [summary(f, last) for f in files]
print("| operator | nodes | " + " | ".join(f"ms per run ({f.rsplit('/', 1)[-1]})" for f in files) + " |")
print("|---|---|" + "---|" * len(files))
first = tables[0]
for op in sorted(first[1], key=lambda k: -first[1][k]):
    print(f"| {op} | {first[2][op]} | " + " | ".join(f"{t[1].get(op, 0):.2f} ({t[1].get(op, 0) / first[2][op] * 1000:.0f} µs each)" for t in tables) + " |")
print("| all operators | " + str(sum(first[2].values())) + " | " + " | ".join(f"{sum(t[1].values()):.1f}" for t in tables) + " |")
print("| model run (wall) | | " + " | ".join(f"{t[0]:.1f}" for t in tables) + " |")
