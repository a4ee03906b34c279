#!/usr/bin/env python3
"""Checks the simulated GPU (SimulatedGpuBackend) against a real GPU, with the batch shapes our batcher forms.

Builds a Qwen3-Embedding-4B-shaped model (random bf16 weights, transformers, SDPA, eager), then times forward
passes for: uniform batches at the token budgets we use, and mixed-length batches (log-uniform 16..1024 tokens,
as in bench/batching.sh) run (a) padded to the longest, as a padded engine would, and (b) as the packed-token
count would predict. Prints, for each shape, the measured time and the simulator's prediction
t = max(floor, tokens / peak) * (1 + 0.15 * min(1, longest / 8192)), with floor and peak fitted here from the
uniform shapes (eager floor, saturated peak) and also with the anchors' defaults (8.6 ms CUDA-graph floor,
48k tokens/s). Writes a JSON next to $OUT. Runs on the `device` machine as is (about 2 minutes).
"""
import json, math, os, random, time
import torch
from transformers import Qwen3Config, Qwen3Model

torch.manual_seed(0); random.seed(42)
dev = "cuda"
cfg = Qwen3Config(vocab_size=151665, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                  num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
                  rope_theta=1_000_000, rms_norm_eps=1e-6, tie_word_embeddings=True)
cfg._attn_implementation = "sdpa"
with torch.device(dev):
    model = Qwen3Model(cfg).to(torch.bfloat16).eval()
gpu = torch.cuda.get_device_name(0)
print("gpu", gpu, "torch", torch.__version__, flush=True)

@torch.inference_mode()
def forward_ms(lengths, reps=7):
    """Median time of one forward over a right-padded batch of these lengths, with last-token pooling."""
    B, L = len(lengths), max(lengths)
    ids = torch.randint(0, cfg.vocab_size, (B, L), device=dev)
    mask = torch.zeros((B, L), dtype=torch.long, device=dev)
    for i, n in enumerate(lengths): mask[i, :n] = 1
    last = torch.tensor([n - 1 for n in lengths], device=dev)
    for _ in range(2):
        model(input_ids=ids, attention_mask=mask)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s = torch.cuda.Event(enable_timing=True); e = torch.cuda.Event(enable_timing=True)
        s.record()
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state
        v = torch.nn.functional.normalize(h[torch.arange(B, device=dev), last].float(), dim=-1)
        e.record(); torch.cuda.synchronize(); times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]

def batcher_batches(lengths, budget):
    """Packs a stream of lengths into batches the way TokenBudgetBatcher does (unpadded budget)."""
    batches, cur, tok = [], [], 0
    for n in lengths:
        if cur and tok + n > budget:
            batches.append(cur); cur, tok = [], 0
        cur.append(n); tok += n
    if cur: batches.append(cur)
    return batches

rows = []
def record(kind, lengths):
    ms = forward_ms(lengths)
    r = dict(kind=kind, batch=len(lengths), longest=max(lengths), tokens=sum(lengths),
             padded_tokens=max(lengths) * len(lengths), ms=round(ms, 2))
    rows.append(r); print(json.dumps(r), flush=True)

# Uniform shapes at our budgets (what a saturated batcher forms with equal lengths).
for L in (16, 128, 512):
    for budget in (2048, 4096, 8192, 16384):
        record("uniform", [L] * max(1, budget // L))
for L, B in ((16, 1), (128, 1), (512, 1), (2048, 1), (8192, 1)):
    record("single", [L] * B)
# Mixed lengths, log-uniform 16..1024 in steps of 16 (bench/batching.sh), batched by the budget.
stream = [int(math.exp(random.random() * math.log(64))) * 16 for _ in range(4000)]
for budget in (4096, 8192):
    for batch in batcher_batches(stream, budget)[:6]:
        record(f"mixed, budget {budget}", batch)

# Fit the model's two numbers from the uniform rows: floor = fastest single forward; peak = best tokens/s.
floor = min(r["ms"] for r in rows if r["kind"] == "single")
peak = max(r["tokens"] / (r["ms"] / 1000) for r in rows if r["kind"] == "uniform")
def predict(r, floor_ms, peak_tps, tokens_key):
    return max(floor_ms, r[tokens_key] / peak_tps * 1000) * (1 + 0.15 * min(1.0, r["longest"] / 8192))
for r in rows:
    r["fit_packed_ms"] = round(predict(r, floor, peak, "tokens"), 2)
    r["fit_padded_ms"] = round(predict(r, floor, peak, "padded_tokens"), 2)
    r["anchor_packed_ms"] = round(predict(r, 8.6, 48000, "tokens"), 2)
summary = dict(gpu=gpu, torch=torch.__version__, fitted_floor_ms=floor, fitted_peak_tokens_per_s=round(peak), rows=rows)
out = os.environ.get("OUT", ".")
json.dump(summary, open(os.path.join(out, "gpu_batches.json"), "w"), indent=1)
print(f"fitted: floor {floor:.1f} ms (eager), peak {peak:.0f} tokens/s")
print("| kind | batch | longest | tokens | padded | measured ms | model, packed | model, padded |")
for r in rows:
    print(f"| {r['kind']} | {r['batch']} | {r['longest']} | {r['tokens']} | {r['padded_tokens']} | {r['ms']} | {r['fit_packed_ms']} | {r['fit_padded_ms']} |")
