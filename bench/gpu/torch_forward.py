"""The torch side of bench/gpu/onnx_cuda.sh: Hugging Face transformers' Qwen3Model (SDPA, bf16, eager) of the
Qwen3-Embedding-4B shape with random weights, last-token pooling + L2 norm, timed per batch shape exactly like the
ONNX side (OnnxCudaBench throughput): 2 warm-ups, then the mean over up to SECONDS of runs (at least 3, at most 200),
wall clock around each call with the GPU synchronised, as a caller waits for its vectors.

    python3 bench/gpu/torch_forward.py 1x16,8x16,128x16 2.0 > torch.jsonl
"""
import json, sys, time
import torch
from transformers import Qwen3Config, Qwen3Model

cells, seconds = sys.argv[1].split(","), float(sys.argv[2])
torch.manual_seed(0)
cfg = Qwen3Config(vocab_size=151669, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                  num_key_value_heads=8, head_dim=128, max_position_embeddings=40960, rope_theta=1_000_000, rms_norm_eps=1e-6,
                  tie_word_embeddings=True)
cfg._attn_implementation = "sdpa"
with torch.device("cuda"):
    model = Qwen3Model(cfg).to(torch.bfloat16).eval()
print(json.dumps({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}), flush=True)


@torch.inference_mode()
def embed(ids, mask):
    h = model(input_ids=ids, attention_mask=mask).last_hidden_state[:, -1]
    v = torch.nn.functional.normalize(h.float(), dim=-1).cpu()
    return v


for cell in cells:
    b, l = map(int, cell.split("x"))
    ids = torch.randint(0, 151000, (b, l), device="cuda")
    mask = torch.ones_like(ids)
    for _ in range(2):
        embed(ids, mask)
    torch.cuda.synchronize()
    times, start = [], time.perf_counter()
    while (time.perf_counter() - start < seconds or len(times) < 3) and len(times) < 200:
        t = time.perf_counter()
        embed(ids, mask)
        times.append((time.perf_counter() - t) * 1000)
    mean = sum(times) / len(times)
    print(json.dumps({"side": "torch", "batch": b, "tokens": l, "runs": len(times), "mean_ms": mean, "min_ms": min(times),
                      "tokens_per_s": b * l / (mean / 1000)}), flush=True)
