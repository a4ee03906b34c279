#!/usr/bin/env python3
"""Qwen3-Reranker-4B's shape (random weights) called directly with transformers on one GPU: the model's own speed,
what a GPU reranker tier's worker can at best deliver.

Pairs as the reranker sees them: the prompt's prefix and suffix token ids (tools/tiny-model's tokenizer, the prompt of
docs/reranking.md) around a body of the instruction, the query and a 200-token document (random ids). The head is the
one-logit form's: the last token's hidden state times lm_head[yes] - lm_head[no], sigmoid.
  one request:  1 query x 100 documents, as one padded batch and as the worker's batcher cuts it (8,192-token batches);
                time from the token ids on the host to the ranked list (scores back on the host, sorted), median of 20
  saturation:   full batches of N pairs in a closed loop for SECONDS: pairs/s

  python3 bench/gpu/rerank_torch.py [SECONDS] [DTYPE]      # prints one JSON line per measurement
Needs: torch, transformers, a CUDA GPU.
"""
import json, sys, time
import torch
from transformers import Qwen3Config, Qwen3Model

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
DTYPE = {"bfloat16": torch.bfloat16, "float16": torch.float16}[sys.argv[2] if len(sys.argv) > 2 else "bfloat16"]
ref = json.load(open("models/qwen3-reranker-tiny/reference.json"))
prefix, suffix = ref["prefix_ids"], ref["suffix_ids"]
empty = next(c for c in ref["cases"] if c["document"] == "" and c["max_length"] == 8192)
head_len = len(empty["ids"]) - len(prefix) - len(suffix)  # instruction + query + "<Document>: "
doc_len = 200
pair_len = len(prefix) + head_len + doc_len + len(suffix)

cfg = Qwen3Config(vocab_size=151669, hidden_size=2560, num_hidden_layers=36, num_attention_heads=32, num_key_value_heads=8,
                  intermediate_size=9728, head_dim=128, max_position_embeddings=40960, rope_theta=1_000_000.0,
                  rms_norm_eps=1e-6, tie_word_embeddings=True)
cfg._attn_implementation = "sdpa"
torch.manual_seed(0)
with torch.device("cuda"):
    model = Qwen3Model(cfg).to(DTYPE).eval()
    w = (torch.randn(cfg.hidden_size) * 0.02).to(DTYPE)  # lm_head[yes] - lm_head[no]
g = torch.Generator().manual_seed(1)
pairs = [prefix + torch.randint(0, 151000, (head_len + doc_len,), generator=g).tolist() + suffix for _ in range(100)]
print(json.dumps({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "dtype": str(DTYPE),
                  "pair_tokens": pair_len, "prefix": len(prefix), "suffix": len(suffix), "head": head_len}), flush=True)


@torch.no_grad()
def score(rows):
    ids = torch.tensor(rows, dtype=torch.long).cuda(non_blocking=True)  # equal lengths: no padding
    h = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False).last_hidden_state[:, -1]
    return torch.sigmoid((h @ w).float()).cpu()


def ranked(batches):
    scores = torch.cat([score(b) for b in batches])
    return sorted(range(len(scores)), key=lambda i: -float(scores[i]))


def timed(fn, runs=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return times[len(times) // 2], times[0]


per_batch = 8192 // pair_len  # the worker's default MaxBatchTokens
for name, batches in [("one batch of 100", [pairs]),
                      (f"batcher's cut: {per_batch} pairs per 8,192-token batch", [pairs[i:i + per_batch] for i in range(0, 100, per_batch)])]:
    p50, best = timed(lambda: ranked(batches))
    print(json.dumps({"measure": "one request, 1 query x 100 documents", "batches": name, "p50_ms": round(p50, 2),
                      "min_ms": round(best, 2)}), flush=True)

for n in (32, 64, 128, 256):
    rows = (pairs * 3)[:n]
    score(rows); torch.cuda.synchronize()
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        score(rows); done += n
    dt = time.perf_counter() - t0
    print(json.dumps({"measure": "saturation", "batch_pairs": n, "pairs_per_s": round(done / dt, 1),
                      "tokens_per_s": round(done * pair_len / dt)}), flush=True)
