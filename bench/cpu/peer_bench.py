#!/usr/bin/env python3
"""The worker's ONNX path against a FastEmbed-style Python pipeline on one model file.

  prepare DIR TOKENIZER_JSON   a Qwen3-Embedding-0.6B-shaped model with random weights (28 layers, hidden 1024, vocab
                               151,669; no hub is reachable where this runs): DIR/fp32 (model.onnx + external data) and
                               DIR/int8 (weight-only 8-bit MatMulNBits, as tools/tiny-model/quantize_int8.py makes it and
                               as the public export ships it), each with Qwen3's real tokenizer.json and config.json; and
                               DIR/texts.json: texts of exactly 16, 128 and 512 tokens (end-of-text included) for the
                               real tokenizer, fixed seed.
  run MODEL_DIR ONNX TEXTS OUT threads
                               the Python pipeline: Hugging Face tokenizers (Rust, encode_batch) + onnxruntime, right
                               padding, last-token pooling, L2 normalisation, batch by batch, timed like
                               tools/Embedding.Bench's `peer` mode (warm-up batch, best of the passes).
Speed depends on shapes, not weight values, so random weights measure what the real export would.
"""
import json, os, random, sys, time
import numpy as np

THREADS_DEFAULT = 16
LENGTHS, BATCH_SIZES, PASSES, MIN_TEXTS = [16, 128, 512], [1, 8, 32], 2, 4
WORDS = ("embedding vector search query passage retrieval model token batch queue worker GPU cache latency throughput "
         "北京 上海 模型 向量 检索 Привет мир données recherche modèle Straße café naïve 🙂 🚀 2026 3.14 def return class "
         "the of and to in is that for it as with was on be at by this had not are but from or have an they which").split()


def prepare(root, tokenizer_json):
    import shutil, torch
    from tokenizers import Tokenizer
    from transformers import Qwen3Config, Qwen3Model
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer, DefaultWeightOnlyQuantConfig
    import onnx
    tok = Tokenizer.from_file(tokenizer_json)
    rng = random.Random(20261201)
    groups = []
    for length in LENGTHS:
        texts = []
        while len(texts) < max(BATCH_SIZES):
            words = []
            while True:  # grow word by word until the text has length-1 tokens (+ end-of-text = length)
                words.append(rng.choice(WORDS))
                n = len(tok.encode(" ".join(words), add_special_tokens=False).ids)
                if n == length - 1: texts.append(" ".join(words)); break
                if n > length - 1: words = words[: max(0, len(words) - rng.randint(1, 3))]
        groups.append({"tokens": length, "texts": texts})
    json.dump({"batch_sizes": BATCH_SIZES, "passes": PASSES, "min_texts_per_pass": MIN_TEXTS, "groups": groups},
              open(os.path.join(root, "texts.json"), "w"), ensure_ascii=False)

    torch.manual_seed(20261201)
    cfg = Qwen3Config(vocab_size=151669, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                      num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=32768,
                      rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True)
    model = Qwen3Model(cfg).eval()

    class LastHidden(torch.nn.Module):
        def __init__(self, m): super().__init__(); self.m = m
        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state

    fp32 = os.path.join(root, "fp32"); int8 = os.path.join(root, "int8")
    for d in (fp32, int8):
        os.makedirs(d, exist_ok=True)
        cfg.save_pretrained(d)
        shutil.copyfile(tokenizer_json, os.path.join(d, "tokenizer.json"))
    ids = torch.randint(0, cfg.vocab_size, (2, 16))
    t0 = time.time()
    tmp = os.path.join(root, "tmp"); os.makedirs(tmp, exist_ok=True)
    torch.onnx.export(LastHidden(model), (ids, torch.ones_like(ids)), os.path.join(tmp, "model.onnx"), dynamo=False, opset_version=17,
                      input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "last_hidden_state": {0: "b", 1: "s"}})
    m = onnx.load(os.path.join(tmp, "model.onnx"), load_external_data=True)
    onnx.save(m, os.path.join(fp32, "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data")
    shutil.rmtree(tmp)
    print(f"export {time.time() - t0:.0f} s", flush=True)
    t0 = time.time()
    import logging; logging.getLogger("onnxruntime.quantization").setLevel(logging.WARNING)
    m = onnx.load(os.path.join(fp32, "model.onnx"), load_external_data=True)  # saving moved the weights out of m
    q = MatMulNBitsQuantizer(m, algo_config=DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=0, bits=8))
    q.process()
    q.model.save_model_to_file(os.path.join(int8, "model.onnx"), use_external_data_format=True)
    print(f"quantize {time.time() - t0:.0f} s", flush=True)


def run(model_dir, onnx_file, texts_json, out_json, threads):
    import onnxruntime as ort
    from tokenizers import Tokenizer
    so = ort.SessionOptions(); so.intra_op_num_threads = threads
    t0 = time.time()
    sess = ort.InferenceSession(os.path.join(model_dir, onnx_file), so, providers=["CPUExecutionProvider"])
    load_s = time.time() - t0
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    eos = tok.token_to_id("<|endoftext|>")
    spec = json.load(open(texts_json))

    def embed(texts):
        encodings = tok.encode_batch(texts, add_special_tokens=False)
        seqs = [e.ids + [eos] for e in encodings]
        n = max(len(s) for s in seqs)
        ids = np.full((len(seqs), n), eos, dtype=np.int64); mask = np.zeros((len(seqs), n), dtype=np.int64)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = s; mask[i, : len(s)] = 1
        h = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        v = h[np.arange(len(seqs)), [len(s) - 1 for s in seqs]]
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        return sum(len(s) for s in seqs)

    results = []
    for group in spec["groups"]:
        texts = group["texts"]
        for b in spec["batch_sizes"]:
            chosen = texts[: max(b, spec["min_texts_per_pass"])]
            batches = [chosen[i: i + b] for i in range(0, len(chosen), b)]
            embed(batches[0])  # warm-up
            best, counted = float("inf"), 0
            for _ in range(spec["passes"]):
                t0 = time.perf_counter()
                counted = sum(embed(batch) for batch in batches)
                best = min(best, time.perf_counter() - t0)
            results.append({"tokens": group["tokens"], "batch_size": b, "texts": len(chosen), "real_tokens": counted,
                            "best_s": best, "tokens_per_s": counted / best})
            print(f"python {onnx_file} {group['tokens']} tokens x batch {b}: {counted / best:.0f} tokens/s", flush=True)
    import tokenizers
    json.dump({"pipeline": "python (Hugging Face tokenizers + onnxruntime, FastEmbed-style)", "onnxruntime": ort.__version__,
               "tokenizers": tokenizers.__version__, "onnx_file": onnx_file, "threads": threads, "load_s": load_s,
               "results": results}, open(out_json, "w"), indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], int(sys.argv[6]) if len(sys.argv) > 6 else THREADS_DEFAULT)
