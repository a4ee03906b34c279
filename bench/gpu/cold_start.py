"""Cold start of a Qwen3-Embedding-4B replica, measured: from a new process to the first answer.

The elastic-cost simulator bills every wake-up for its cold start; this measures the part a GPU host controls:
Python + torch import, CUDA context, weights from local disk into GPU memory (page cache cold, then warm), the first
forward passes, and CUDA-graph capture as an engine does for its batch sizes. Same architecture, random bf16 weights
(no checkpoint is reachable here), saved once as safetensors. Container start and image pull are not measured (no
container engine on the device machine).

    python3 bench/gpu/cold_start.py [--dir /tmp/qwen3-4b-random] [--runs 2] > out.json
"""
import argparse, json, os, subprocess, sys, time

HIDDEN, LAYERS, HEADS, KV, INTER = 2560, 36, 32, 8, 9728


def config():
    from transformers import Qwen3Config
    cfg = Qwen3Config(vocab_size=151669, hidden_size=HIDDEN, intermediate_size=INTER, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=KV, head_dim=128, max_position_embeddings=40960,
                      rope_theta=1_000_000, rms_norm_eps=1e-6, tie_word_embeddings=True)
    cfg._attn_implementation = "sdpa"
    return cfg


def prepare(directory):
    """Random weights of the 4B shape, written once as one safetensors file (not timed)."""
    path = os.path.join(directory, "model.safetensors")
    if os.path.exists(path):
        return path
    import torch
    from safetensors.torch import save_file
    from transformers import Qwen3Model
    os.makedirs(directory, exist_ok=True)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = Qwen3Model(config()).to(torch.bfloat16)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, path)
    return path


def drop_from_page_cache(path):
    """Evict the file's pages (clean pages of a file we own: no root needed), so the next read comes from the disk."""
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def child(path, graphs):
    """One replica start, in a fresh process; prints one JSON line of phase timings (seconds since the process began)."""
    marks = {}
    begin = float(os.environ["COLD_START_T0"])
    def mark(name):
        marks[name] = round(time.time() - begin, 3)
    mark("python_started")
    import torch
    from safetensors.torch import load_file
    from transformers import Qwen3Model
    mark("imported")
    torch.cuda.init(); torch.empty(1, device="cuda"); torch.cuda.synchronize()
    mark("cuda_ready")
    with torch.device("meta"):
        model = Qwen3Model(config()).to(torch.bfloat16)
    state = load_file(path, device="cuda")
    model.load_state_dict(state, assign=True, strict=False)
    # Buffers (rotary frequencies) are not in the file: rebuild them on the GPU.
    model.rotary_emb = type(model.rotary_emb)(config=model.config, device="cuda")
    model.eval(); torch.cuda.synchronize()
    mark("weights_on_gpu")
    with torch.inference_mode():
        ids = torch.randint(0, 150000, (1, 16), device="cuda")
        model(input_ids=ids).last_hidden_state[:, -1]; torch.cuda.synchronize()
        mark("first_answer")
        big = torch.randint(0, 150000, (16, 256), device="cuda")
        model(input_ids=big).last_hidden_state[:, -1]; torch.cuda.synchronize()
        mark("warmed_4096_tokens")
        if graphs:
            for batch in (1, 2, 4, 8, 16, 32):
                ids = torch.randint(0, 150000, (batch, 128), device="cuda")
                stream = torch.cuda.Stream(); stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    model(input_ids=ids)
                torch.cuda.current_stream().wait_stream(stream)
                graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(graph):
                    model(input_ids=ids)
                graph.replay()
            torch.cuda.synchronize()
            mark("graphs_captured_6")
    size = os.path.getsize(path)
    print(json.dumps({"marks": marks, "file_bytes": size}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default="/tmp/qwen3-4b-random")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--graphs", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(os.path.join(args.dir, "model.safetensors"), args.graphs)
        return
    began = time.time()
    path = prepare(args.dir)
    prepared = time.time() - began
    import torch
    # The disk's own read speed for this file, page cache cold: what the weights phase cannot beat.
    drop_from_page_cache(path)
    read_began = time.time()
    with open(path, "rb", buffering=0) as f:
        while f.read(64 << 20):
            pass
    read_seconds = time.time() - read_began
    runs = []
    for cache in ("cold", "warm"):
        for i in range(args.runs):
            if cache == "cold":
                drop_from_page_cache(path)
            env = dict(os.environ, COLD_START_T0=repr(time.time()))
            out = subprocess.run([sys.executable, __file__, "--child", "--dir", args.dir] + (["--graphs"] if i == 0 else []),
                                 env=env, capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result["page_cache"] = cache
            runs.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
    print(json.dumps({
        "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "prepare_seconds": round(prepared, 1),
        "disk_read_cold_seconds": round(read_seconds, 2), "disk_read_gb_per_s": round(os.path.getsize(path) / read_seconds / 1e9, 2),
        "runs": runs,
    }, indent=1))


if __name__ == "__main__":
    main()
