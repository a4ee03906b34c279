"""CPU forward-pass times of the Qwen3-Embedding-4B architecture (random weights: speed does not depend on their values).

Used to judge a CPU "standby" replica for the 4B tier (same model, so the same vectors, on a CPU): how long one request
of a given length takes with all cores. Runs on any machine with PyTorch and transformers; no download.
    python3 bench/cpu/measure_4b_cpu.py [--threads N] [--out FILE]
"""
import argparse, json, os, platform, time

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import torch
import transformers

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=os.cpu_count())
parser.add_argument("--out", default="cpu-4b.json")
args = parser.parse_args()
torch.set_num_threads(args.threads)

# Qwen3-Embedding-4B's published config (hidden 2560, 36 layers, 32 query / 8 key-value heads, MLP 9728).
shape = dict(vocab_size=151665, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
             num_key_value_heads=8, head_dim=128, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000)
try:
    config = transformers.Qwen3Config(**shape)
    model_class = transformers.Qwen3Model
except AttributeError:  # older transformers: Qwen2 has the same matmuls (no q/k norm)
    config = transformers.Qwen2Config(**{k: v for k, v in shape.items() if k != "head_dim"})
    model_class = transformers.Qwen2Model
config._attn_implementation = "sdpa"

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
results = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu, "threads": args.threads, "torch": torch.__version__,
           "transformers": transformers.__version__, "architecture": model_class.__name__, "runs": []}
for dtype in (torch.bfloat16, torch.float32):
    torch.manual_seed(0)
    started = time.time()
    with torch.no_grad():
        model = model_class(config).to(dtype).eval()
    print(f"{dtype}: built in {time.time() - started:.0f} s", flush=True)
    for batch, length in ((1, 32), (1, 192), (1, 512), (4, 192), (8, 192), (1, 2048)):
        ids = torch.randint(0, 150000, (batch, length))
        with torch.inference_mode():
            model(input_ids=ids)  # warm-up
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                model(input_ids=ids)
                times.append(time.perf_counter() - t0)
        best = min(times)
        run = {"dtype": str(dtype).replace("torch.", ""), "batch": batch, "tokens": length, "seconds": round(best, 4),
               "tokens_per_second": round(batch * length / best, 1)}
        results["runs"].append(run)
        print(run, flush=True)
    del model
with open(args.out, "w") as f:
    json.dump(results, f, indent=1)
print(f"wrote {args.out}")
