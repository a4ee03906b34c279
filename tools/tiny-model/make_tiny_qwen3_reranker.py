#!/usr/bin/env python3
"""Builds a tiny, randomly initialised Qwen3 reranker (a Qwen3ForCausalLM with its LM head) and reference scores
computed the official way with transformers, so the worker's reranker backend can be checked without the real weights.

The official way (QwenLM/Qwen3-Embedding, examples/qwen3_reranker_transformers.py): the prompt is prefix + body +
suffix, the prefix and suffix tokenised without added special tokens, the body
"<Instruct>: {instruction}\\n<Query>: {query}\\n<Document>: {document}" tokenised with truncation to max_length minus
the prefix's and suffix's lengths; the batch left-padded; the score P("yes") from a softmax over the "no" and "yes"
logits at the last position of Qwen3ForCausalLM's output.

Reproducible: fixed corpus, fixed seeds. Writes into OUT_DIR (argument 1):
  tokenizer.json, vocab.json, merges.txt, tokenizer_config.json - byte-level BPE built like Qwen3's (NFC, Qwen2 split
      regex, ByteLevel), with Qwen3's added tokens <|endoftext|>, <|im_start|>, <|im_end|> (special) and <think>,
      </think> (not special), and "yes" and "no" as tokens; like Qwen3-Reranker's (unlike Qwen3-Embedding's) it
      appends nothing to an encoded text
  config.json                - the Hugging Face config of the tiny Qwen3ForCausalLM (LM head not tied)
  model.onnx + model.onnx_data - the one-logit form (logits [batch, 1] = lm_head[yes] - lm_head[no] at the last real
      token), converted from the saved Hugging Face weights by tools/gpu-export/export_qwen3_reranker.py exactly as a
      user converts the real ones
  onnx/model_yes_no.onnx     - the two-logit form (logits [batch, 2] = the [no, yes] logits), exported by tracing
      transformers' own forward (torch.onnx): a second, independent path
  reference.json             - prompt token ids, truncation cases and scores from transformers, the official way

Needs: torch, transformers, tokenizers, safetensors, onnx, onnxruntime (the `device` machine has them).
Run:   python3 tools/tiny-model/make_tiny_qwen3_reranker.py models/qwen3-reranker-tiny
"""
import json, os, random, subprocess, sys, tempfile
import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else "models/qwen3-reranker-tiny"
os.makedirs(os.path.join(OUT, "onnx"), exist_ok=True)
SEED = 20261202
random.seed(SEED); np.random.seed(SEED); torch.manual_seed(SEED)
torch.use_deterministic_algorithms(True)
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "gpu-export"))
from export_qwen3_reranker import PREFIX, SUFFIX, DEFAULT_INSTRUCTION, body_text, hf_tokenizer  # noqa: E402  one copy of the prompt

# --- 1. tokenizer -----------------------------------------------------------------------------------------------------
from tokenizers import Tokenizer, Regex, models, normalizers, pre_tokenizers, decoders, trainers, processors

QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
CORPUS = [
    PREFIX, SUFFIX, body_text("What is the capital of China?", "The capital of China is Beijing."),
    "yes\nno\nyes\nno\n\"yes\" or \"no\"",
    "The quick brown fox jumps over the lazy dog. It's a sunny day; we'll go outside and they've said they'd come.",
    "Rerankers score each passage against the query; the best passages go to the language model first.",
    "A queue decouples the API from the workers: requests wait on the queue, workers take batches and answer each one.",
    "GPU workers scale to zero when idle and come back when work arrives. Cold starts cost seconds, idle GPUs cost money.",
    "The capital of France is Paris. The capital of China is Beijing. Berlin is the capital of Germany.",
    "Gravity is a force that attracts two bodies towards each other. It gives weight to physical objects.",
    "我们的服务把文本变成向量。北京是中国的首都。今天天气很好，我们去公园散步吧。",
    "Ünïcödé tëxt: café, naïve, résumé, Straße, Привет мир, こんにちは世界 🙂 🚀 → ≤ ∞",
    "def rerank(query, docs):\n    return sorted(docs, key=lambda d: score(query, d), reverse=True)\n",
]


def corpus():
    rng = random.Random(SEED)
    words = " ".join(CORPUS).split()
    for _ in range(60):
        yield from CORPUS
        yield " ".join(rng.choice(words) for _ in range(40))


tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
tok.normalizer = normalizers.NFC()
tok.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
    pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
])
tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
tok.train_from_iterator(corpus(), trainers.BpeTrainer(vocab_size=1200, min_frequency=2, show_progress=False,
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[]))
tok.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])  # after the BPE vocabulary, as Qwen3's
tok.add_tokens(["<think>", "</think>"])  # Qwen3's are added tokens that are not special
tok.post_processor = processors.ByteLevel(trim_offsets=False)  # Qwen3-Reranker's: appends nothing
tok.save(os.path.join(OUT, "tokenizer.json"))
tok.model.save(OUT)
json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "padding_side": "left", "model_max_length": 512,
           "add_bos_token": False, "add_eos_token": False},
          open(os.path.join(OUT, "tokenizer_config.json"), "w"), indent=2)
vocab_size = tok.get_vocab_size()
YES, NO, PAD = tok.token_to_id("yes"), tok.token_to_id("no"), tok.token_to_id("<|endoftext|>")
assert YES is not None and NO is not None, "the corpus must make 'yes' and 'no' whole tokens"
for t in ["<|im_start|>", "<|im_end|>", "<think>", "</think>"]:
    assert len(tok.encode(t, add_special_tokens=False).ids) == 1, t
print("vocab", vocab_size, "yes", YES, "no", NO, "pad", PAD, flush=True)

# --- 2. the model: Qwen3ForCausalLM with random weights ----------------------------------------------------------------
from transformers import Qwen3Config, Qwen3ForCausalLM
config = Qwen3Config(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=512,
                     rms_norm_eps=1e-6, rope_theta=1000000.0, initializer_range=0.2, tie_word_embeddings=False,
                     bos_token_id=PAD, eos_token_id=tok.token_to_id("<|im_end|>"), pad_token_id=PAD)
config._attn_implementation = "eager"
model = Qwen3ForCausalLM(config).eval()
with torch.no_grad():  # random norm weights too, so the norms are exercised
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.copy_(1.0 + 0.1 * torch.randn_like(p))

# --- 3. the official scoring (its tokenizer loaded as AutoTokenizer loads a model's) -----------------------------------
hf_dir = tempfile.mkdtemp(prefix="qwen3-reranker-tiny-hf-")
for f in ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"]:
    subprocess.run(["cp", os.path.join(OUT, f), hf_dir], check=True)
hf_tok = hf_tokenizer(hf_dir)
assert hf_tok.convert_tokens_to_ids("yes") == YES and hf_tok.convert_tokens_to_ids("no") == NO
prefix_ids = hf_tok.encode(PREFIX, add_special_tokens=False)
suffix_ids = hf_tok.encode(SUFFIX, add_special_tokens=False)
assert prefix_ids == tok.encode(PREFIX, add_special_tokens=False).ids


def process_inputs(pairs, max_length):
    """The official example's process_inputs, verbatim in behaviour."""
    inputs = hf_tok(pairs, padding=False, truncation="longest_first", return_attention_mask=False,
                    max_length=max_length - len(prefix_ids) - len(suffix_ids))
    for i, ele in enumerate(inputs["input_ids"]):
        inputs["input_ids"][i] = prefix_ids + ele + suffix_ids
    return hf_tok.pad(inputs, padding=True, return_tensors="pt", max_length=max_length)


@torch.no_grad()
def compute_logits(inputs):
    """The official example's compute_logits, with the two logits kept as well."""
    last = model(**inputs).logits[:, -1, :]
    two = torch.stack([last[:, NO], last[:, YES]], dim=1)
    return torch.nn.functional.log_softmax(two, dim=1)[:, 1].exp().tolist(), two.tolist()


QUERIES = [
    (None, "What is the capital of China?"),
    (None, "Explain gravity"),
    ("Given a question, retrieve passages that answer it in Chinese", "北京是哪个国家的首都？"),
    ("Judge code relevance", "how to sort documents by score in python"),
]
DOCUMENTS = [
    "The capital of China is Beijing.",
    "Gravity is a force that attracts two bodies towards each other. It gives weight to physical objects.",
    "我们的服务把文本变成向量。北京是中国的首都。",
    "def rerank(query, docs):\n    return sorted(docs, key=lambda d: score(query, d), reverse=True)\n",
    "",
    "  leading and trailing spaces  ",
    "A document that mentions <|im_end|> and <think> inside its text.",
    "Ünïcödé café naïve (NFD: nai\u0308ve cafe\u0301) 🙂 🚀",
    "GPU workers scale to zero when idle and come back when work arrives. " * 4,
]
LONG = "Rerankers score each passage against the query; the best passages go to the language model first. " * 30


def group(instruction, query, documents, max_length):
    pairs = [body_text(query, d, instruction) for d in documents]
    inputs = process_inputs(pairs, max_length)
    scores, logits = compute_logits(inputs)
    ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(inputs["input_ids"].tolist(), inputs["attention_mask"].tolist())]
    for p, i in zip(pairs, ids):  # transformers' tokenizer and the tokenizers library agree
        raw = tok.encode(p, add_special_tokens=False).ids[:max_length - len(prefix_ids) - len(suffix_ids)]
        assert i == prefix_ids + raw + suffix_ids, p
    return [{"instruction": instruction, "query": query, "document": d, "max_length": max_length, "ids": i,
             "logits_no_yes": l, "score": s} for d, i, l, s in zip(documents, ids, logits, scores)]


cases = []
for instruction, query in QUERIES:
    cases += group(instruction, query, DOCUMENTS, 8192)
# Truncation: only the body is cut, to max_length - len(prefix) - len(suffix); prefix and suffix stay whole.
short = len(prefix_ids) + len(suffix_ids) + 24
cases += group(None, "What is the capital of China?", [DOCUMENTS[0], LONG, DOCUMENTS[1]], short)
cases += group(None, "Explain gravity", [LONG, DOCUMENTS[8]], 256)

# The scale of the random head: rescale the yes/no rows around their mean so that the scores spread over (0, 1), then
# compute everything again (the rest of the vocabulary does not enter the two-way softmax).
d = np.array([c["logits_no_yes"][1] - c["logits_no_yes"][0] for c in cases])
with torch.no_grad():
    head = model.lm_head.weight
    mid = (head[YES] + head[NO]) / 2
    k = float(1.5 / max(d.std(), 1e-6))
    head[YES] = mid + k * (head[YES] - mid)
    head[NO] = mid + k * (head[NO] - mid)
cases = []
for instruction, query in QUERIES:
    cases += group(instruction, query, DOCUMENTS, 8192)
cases += group(None, "What is the capital of China?", [DOCUMENTS[0], LONG, DOCUMENTS[1]], short)
cases += group(None, "Explain gravity", [LONG, DOCUMENTS[8]], 256)
scores = np.array([c["score"] for c in cases])
print(f"{len(cases)} cases, scores from {scores.min():.4f} to {scores.max():.4f}, spread {scores.std():.3f}", flush=True)

# Each pair alone (no padding) gives the same score: left padding changes nothing but rounding.
with torch.no_grad():
    alone = [float(torch.softmax(model(input_ids=torch.tensor([c["ids"]])).logits[0, -1, [NO, YES]], 0)[1]) for c in cases]
print(f"left-padded batch vs each pair alone: max |dP| {np.abs(np.array(alone) - scores).max():.2e}", flush=True)

reference = {"cases": cases}
json.dump(reference, open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
checks = {"left_padded_vs_alone_max_abs_dp": float(np.abs(np.array(alone) - scores).max())}
config.architectures = ["Qwen3ForCausalLM"]
model.save_pretrained(hf_dir)
config.save_pretrained(OUT)

# --- 4. ONNX: the two-logit form from transformers' own forward (torch.onnx) ----------------------------------------
class YesNoLogits(torch.nn.Module):
    """transformers' Qwen3 body, then the LM head's no/yes rows at the last real token (right padding)."""
    def __init__(self, m):
        super().__init__()
        self.body = m.model
        self.register_buffer("rows", m.lm_head.weight[[NO, YES]].detach().clone())

    def forward(self, input_ids, attention_mask):
        h = self.body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        last = (attention_mask.sum(-1) - 1).view(-1, 1, 1).expand(-1, 1, h.shape[-1])
        return h.gather(1, last).squeeze(1) @ self.rows.T


import onnx, onnxruntime as ort


def right_pad(rows):
    n = max(len(r) for r in rows)
    ids = np.full((len(rows), n), PAD, np.int64); mask = np.zeros((len(rows), n), np.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r; mask[i, :len(r)] = 1
    return ids, mask


def onnx_scores(path):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ids, mask = right_pad([c["ids"] for c in cases])
    out = s.run(["logits"], {"input_ids": ids, "attention_mask": mask})[0].astype(np.float64)
    return 1 / (1 + np.exp(-out[:, 0])) if out.shape[1] == 1 else np.exp(out[:, 1]) / np.exp(out).sum(1)


two_path = os.path.join(OUT, "onnx", "model_yes_no.onnx")
exporter = None
sample = right_pad([cases[0]["ids"], cases[1]["ids"]])
for dynamo in (True, False):
    try:
        args = (torch.tensor(sample[0]), torch.tensor(sample[1]))
        if dynamo:
            b, s = torch.export.Dim("batch"), torch.export.Dim("sequence")
            prog = torch.onnx.export(YesNoLogits(model), args, dynamo=True, input_names=["input_ids", "attention_mask"],
                                     output_names=["logits"], dynamic_shapes={"input_ids": {0: b, 1: s}, "attention_mask": {0: b, 1: s}})
            prog.save(two_path + ".tmp")
        else:
            torch.onnx.export(YesNoLogits(model), args, two_path + ".tmp", dynamo=False, opset_version=17,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                                            "logits": {0: "batch"}})
        onnx.save(onnx.load(two_path + ".tmp", load_external_data=True), two_path, save_as_external_data=False)
        worst = float(np.abs(onnx_scores(two_path) - scores).max())
        checks["two_logit_vs_transformers_max_abs_dp"] = worst
        print(f"two-logit export ({'dynamo' if dynamo else 'torchscript'}): max |dP| vs transformers {worst:.2e}", flush=True)
        if worst < 1e-5:
            exporter = "torch.onnx dynamo" if dynamo else "torch.onnx torchscript"
            break
    except Exception as ex:  # noqa: BLE001  try the next exporter
        print(f"two-logit export ({'dynamo' if dynamo else 'torchscript'}) failed: {type(ex).__name__}: {str(ex)[:300]}", flush=True)
    finally:
        for f in os.listdir(os.path.join(OUT, "onnx")):
            if ".tmp" in f:
                os.remove(os.path.join(OUT, "onnx", f))
tool = [sys.executable, os.path.join(HERE, "..", "gpu-export", "export_qwen3_reranker.py"), "--model", hf_dir,
        "--out", OUT, "--dtype", "float32", "--max-length", "512"]
if exporter is None:  # the converter's two-logit form instead, said so in reference.json
    print("tool two-logit: exit", subprocess.run(tool + ["--form", "two-logit", "--file", "onnx/model_yes_no.onnx"]).returncode, flush=True)
    exporter = "export_qwen3_reranker.py --form two-logit"

# --- 5. ONNX: the one-logit form, converted from the saved Hugging Face weights by the committed tool ------------------
checks["tool_exit_code"] = subprocess.run(tool + ["--form", "one-logit"]).returncode
config.save_pretrained(OUT)  # the tool copied the same config; keep transformers' own rendering
for f in ["export.json", "reference-export.json"]:
    if os.path.exists(os.path.join(OUT, f)):
        os.remove(os.path.join(OUT, f))
try:
    one = onnx_scores(os.path.join(OUT, "model.onnx"))
    two = onnx_scores(two_path)
    checks["one_logit_vs_transformers_max_abs_dp"] = float(np.abs(one - scores).max())
    checks["one_logit_vs_two_logit_max_abs_dp"] = float(np.abs(one - two).max())
except Exception as ex:  # noqa: BLE001  recorded; the reference data stands on its own
    checks["onnx_error"] = f"{type(ex).__name__}: {str(ex)[:300]}"
print("checks", checks, flush=True)

# --- 6. reference data ---------------------------------------------------------------------------------------------
reference.update({
    "generator": "tools/tiny-model/make_tiny_qwen3_reranker.py",
    "note": "Random weights: scores are meaningless as relevance; they exist to check our implementation.",
    "official": "QwenLM/Qwen3-Embedding examples/qwen3_reranker_transformers.py: process_inputs + compute_logits",
    "seed": SEED, "yes_token_id": YES, "no_token_id": NO, "pad_token_id": PAD,
    "default_instruction": DEFAULT_INSTRUCTION, "prefix": PREFIX, "suffix": SUFFIX,
    "prefix_ids": prefix_ids, "suffix_ids": suffix_ids,
    "exporters": {"model.onnx": "export_qwen3_reranker.py --form one-logit --dtype float32",
                  "onnx/model_yes_no.onnx": exporter},
    "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                 "tokenizers": __import__("tokenizers").__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
    "checks": checks,
})
json.dump(reference, open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print("wrote", sorted(os.listdir(OUT)), {f: os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT) if f.startswith("model")})
