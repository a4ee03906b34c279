#!/usr/bin/env python3
"""Builds a tiny, randomly initialised Qwen3 embedding model that looks like the published
Qwen3-Embedding ONNX exports from the outside, so the C# ONNX backend can be tested without
downloading the real 0.6B weights.

Reproducible: fixed corpus, fixed seeds. Writes into OUT_DIR (argument 1):
  tokenizer.json, vocab.json, merges.txt, tokenizer_config.json  - byte-level BPE built exactly like
      Qwen3's (NFC normaliser, Qwen2 split regex + ByteLevel(use_regex=False), <|endoftext|> appended)
  config.json      - the Hugging Face Qwen3 config of the tiny model
  model.onnx       - inputs input_ids/attention_mask [batch, seq] int64, output last_hidden_state
  reference.json   - token ids from Hugging Face `tokenizers` and embeddings from `transformers`
      (last-token pooling, L2-normalised): an implementation independent of ours

With a second directory, also writes the model in each public export shape there (export_shapes.py).

Needs: torch, transformers, tokenizers, onnx, onnxruntime (the `device` machine has them).
Run:   python3 tools/tiny-model/make_tiny_qwen3.py models/qwen3-tiny models/exports
"""
import json, os, sys, random
import numpy as np
import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else "models/qwen3-tiny"
SHAPES = sys.argv[2] if len(sys.argv) > 2 else None
os.makedirs(OUT, exist_ok=True)
SEED = 20261124
random.seed(SEED); np.random.seed(SEED); torch.manual_seed(SEED)
torch.use_deterministic_algorithms(True)

# --- 1. tokenizer, built the way Qwen3's tokenizer.json is built -------------------------
from tokenizers import Tokenizer, Regex, models, normalizers, pre_tokenizers, decoders, trainers, processors

QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's a sunny day; we'll go outside and they've said they'd come.",
    "Embeddings turn text into vectors so that similar texts have similar vectors. Search, RAG and deduplication use them.",
    "A queue decouples the API from the workers: requests wait on the queue, workers take batches and answer each one.",
    "GPU workers scale to zero when idle and come back when work arrives. Cold starts cost seconds, idle GPUs cost money.",
    "The capital of France is Paris. The capital of China is Beijing. Berlin is the capital of Germany.",
    "def embed(texts):\n    return [model(t) for t in texts]\n\nclass Cache:\n    def get(self, key): return self.store.get(key)\n",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2026 3.14159 1,000,000 -17 +3 50% $20 #1 @user",
    "我们的服务把文本变成向量。北京是中国的首都。今天天气很好，我们去公园散步吧。",
    "机器学习和自然语言处理正在改变搜索引擎。向量检索可以找到语义相似的文档。",
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:",
    "Ünïcödé tëxt: café, naïve, résumé, Straße, Ærø, Ωmega, Привет мир, こんにちは世界, 안녕하세요",
    "Emoji and symbols: 🙂 🚀 ✅ → ← ≤ ≥ ≠ ∞ © ® ™ … “quotes” ‘single’ «guillemets»",
    "Whitespace   with    runs\tand\ttabs\r\nand windows newlines\n\n\nand trailing spaces   ",
    "I'M SHOUTING BECAUSE IT'S LOUD, DON'T YOU THINK? WE'LL SEE. THEY'D KNOW.",
    "JSON: {\"model\": \"qwen3-embedding-4b\", \"input\": [\"hello\", \"world\"], \"dimensions\": 256}",
]
def corpus():
    rng = random.Random(SEED)
    words = " ".join(CORPUS).split()
    for _ in range(60):
        for line in CORPUS:
            yield line
        yield " ".join(rng.choice(words) for _ in range(40))

tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
tok.normalizer = normalizers.NFC()
tok.pre_tokenizer = pre_tokenizers.Sequence([
    pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
    pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
])
tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, show_progress=False,
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
tok.train_from_iterator(corpus(), trainer)
# Qwen3 puts its special tokens after the BPE vocabulary, and the embedding tokenizer appends <|endoftext|>.
tok.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
eos_id = tok.token_to_id("<|endoftext|>")
tok.post_processor = processors.TemplateProcessing(
    single="$A:0 <|endoftext|>:0", pair="$A:0 <|endoftext|>:0 $B:1 <|endoftext|>:1",
    special_tokens=[("<|endoftext|>", eos_id)])
tok.save(os.path.join(OUT, "tokenizer.json"))
tok.model.save(OUT)  # vocab.json + merges.txt, the files the real Qwen3 repos ship too
json.dump({"tokenizer_class": "Qwen2TokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
           "padding_side": "left", "model_max_length": 512, "add_eos_token": True},
          open(os.path.join(OUT, "tokenizer_config.json"), "w"), indent=2)
vocab_size = tok.get_vocab_size()
print("vocab", vocab_size, "eos", eos_id)

# --- 2. the model: Hugging Face Qwen3 with random weights -----------------------------------
from transformers import Qwen3Config, Qwen3Model
config = Qwen3Config(vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=512,
                     rms_norm_eps=1e-6, rope_theta=1000000.0, initializer_range=0.2, tie_word_embeddings=True,
                     bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)
config._attn_implementation = "eager"
model = Qwen3Model(config).eval()
with torch.no_grad():  # random norm weights too, so the norms are exercised
    for name, p in model.named_parameters():
        if name.endswith("norm.weight"):
            p.copy_(1.0 + 0.1 * torch.randn_like(p))
config.architectures = ["Qwen3ForCausalLM"]
config.save_pretrained(OUT)

def hf_embed(ids):
    """Reference: transformers forward of one unpadded sequence, last token, L2-normalised."""
    with torch.no_grad():
        h = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).last_hidden_state
    v = h[0, -1].double()
    return (v / v.norm()).tolist()

# --- 3. ONNX export with dynamic batch and sequence ------------------------------------------
class LastHidden(torch.nn.Module):
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, input_ids, attention_mask):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state

def rope_theta(cfg):
    """transformers 5 keeps it in rope_parameters; 4.x as an attribute."""
    return getattr(cfg, "rope_parameters", None) and cfg.rope_parameters.get("rope_theta") or cfg.rope_theta

class ExplicitQwen3(torch.nn.Module):
    """Fallback exporter: the Qwen3 forward written out on the same weights (no transformers mask code,
    which some exporters cannot trace). Verified against transformers below before it is used."""
    def __init__(self, m, cfg):
        super().__init__(); self.m = m; self.cfg = cfg
    @staticmethod
    def rms(x, w, eps):
        xf = x.float(); return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps))
    def forward(self, input_ids, attention_mask):
        cfg, m = self.cfg, self.m
        b, s = input_ids.shape
        hd, nh, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
        x = m.embed_tokens(input_ids)
        pos = torch.arange(s, dtype=torch.float32).unsqueeze(1)
        inv = 1.0 / (rope_theta(cfg) ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        f = pos * inv.unsqueeze(0); e = torch.cat([f, f], -1); cos, sin = e.cos(), e.sin()
        def rope(t):
            t1, t2 = t[..., : hd // 2], t[..., hd // 2:]
            return t * cos + torch.cat([-t2, t1], -1) * sin
        causal = torch.tril(torch.ones(s, s, dtype=torch.bool))
        allowed = causal.unsqueeze(0) & attention_mask.bool().unsqueeze(1)
        bias = torch.where(allowed, 0.0, torch.finfo(torch.float32).min).unsqueeze(1)
        for layer in m.layers:
            a = layer.self_attn
            h = self.rms(x, layer.input_layernorm.weight, cfg.rms_norm_eps)
            q = a.q_proj(h).view(b, s, nh, hd); k = a.k_proj(h).view(b, s, nkv, hd); v = a.v_proj(h).view(b, s, nkv, hd)
            q = self.rms(q, a.q_norm.weight, cfg.rms_norm_eps).transpose(1, 2)
            k = self.rms(k, a.k_norm.weight, cfg.rms_norm_eps).transpose(1, 2)
            v = v.transpose(1, 2)
            q, k = rope(q), rope(k)
            rep = nh // nkv
            k = k.repeat_interleave(rep, dim=1); v = v.repeat_interleave(rep, dim=1)
            w = torch.softmax(q @ k.transpose(2, 3) / (hd ** 0.5) + bias, dim=-1)
            o = (w @ v).transpose(1, 2).reshape(b, s, nh * hd)
            x = x + a.o_proj(o)
            h = self.rms(x, layer.post_attention_layernorm.weight, cfg.rms_norm_eps)
            mlp = layer.mlp
            x = x + mlp.down_proj(torch.nn.functional.silu(mlp.gate_proj(h)) * mlp.up_proj(h))
        return self.rms(x, m.norm.weight, cfg.rms_norm_eps)

import onnx, onnxruntime as ort

def right_pad(batch):
    n = max(len(x) for x in batch)
    ids = np.full((len(batch), n), eos_id, dtype=np.int64); mask = np.zeros((len(batch), n), dtype=np.int64)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = x; mask[i, : len(x)] = 1
    return ids, mask

def check_onnx(path, batch):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ids, mask = right_pad(batch)
    h = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
    worst = 1.0
    for i, x in enumerate(batch):
        v = h[i, len(x) - 1].astype(np.float64); v /= np.linalg.norm(v)
        worst = min(worst, float(np.dot(v, np.array(hf_embed(x)))))
    return worst

def export(module, path, dynamo):
    ids, mask = right_pad([tok.encode("hello world").ids, tok.encode("a longer sentence here").ids])
    args = (torch.tensor(ids), torch.tensor(mask))
    if dynamo:
        bd, sd = torch.export.Dim("batch"), torch.export.Dim("sequence")
        prog = torch.onnx.export(module, args, dynamo=True, input_names=["input_ids", "attention_mask"],
                                 output_names=["last_hidden_state"],
                                 dynamic_shapes={"input_ids": {0: bd, 1: sd}, "attention_mask": {0: bd, 1: sd}})
        prog.save(path + ".tmp")
        m = onnx.load(path + ".tmp", load_external_data=True)
    else:
        torch.onnx.export(module, args, path + ".tmp", dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                        "attention_mask": {0: "batch", 1: "sequence"},
                                        "last_hidden_state": {0: "batch", 1: "sequence"}})
        m = onnx.load(path + ".tmp", load_external_data=True)
    onnx.save(m, path, save_as_external_data=False)  # one self-contained file
    for f in os.listdir(os.path.dirname(path)):
        if f.startswith(os.path.basename(path) + ".tmp"):
            os.remove(os.path.join(os.path.dirname(path), f))

TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Embeddings turn text into vectors.",
    "北京是中国的首都。",
    "机器学习和自然语言处理",
    "Ünïcödé café naïve Straße",
    "Emoji 🙂 🚀 and symbols → ≤ ∞",
    "def embed(texts):\n    return [model(t) for t in texts]",
    "Numbers 1234567890 and 3.14159",
    "I'M SHOUTING, DON'T YOU THINK? WE'LL SEE.",
    "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:What is the capital of China?",
    " ".join(["GPU workers scale to zero when idle and come back when work arrives."] * 12),
]
check_batch = [tok.encode(t).ids for t in TEXTS]
exported = None
for name, module, dynamo in [("transformers, dynamo", LastHidden(model), True),
                             ("transformers, torchscript", LastHidden(model), False),
                             ("explicit, dynamo", ExplicitQwen3(model, config), True),
                             ("explicit, torchscript", ExplicitQwen3(model, config), False)]:
    path = os.path.join(OUT, "model.onnx")
    try:
        export(module, path, dynamo)
        worst = check_onnx(path, check_batch)
        print(f"export [{name}]: worst cosine vs transformers (right-padded batch) = {worst:.8f}")
        if worst >= 0.99999:
            exported = name; break
    except Exception as ex:
        print(f"export [{name}] failed: {type(ex).__name__}: {str(ex)[:300]}")
if exported is None:
    sys.exit("no exporter produced a model that matches transformers")

# --- 4. reference data -----------------------------------------------------------------------
TOKENIZER_CASES = TEXTS + [
    "", " ", "  leading and trailing  ", "a\nb\r\nc\n\n\nd", "tabs\tand\t\tspaces", "it's they're we've I'm you'll he'd",
    "IT'S THEY'RE", "x'S", "12345", "1,000,000.50", "2026-11-24T23:59:59Z", "$20 €30 ¥40", "hello!!! ??? ...",
    "C#, F# and C++", "https://example.com/a?b=c&d=e", "email@example.com", "naïve café (NFD: nai\u0308ve cafe\u0301)",
    "こんにちは世界", "Привет, мир!", "안녕하세요", "🙂🙂🙂", "👨‍👩‍👧 family", "\u00a0non-breaking\u00a0space", "zero\u200bwidth",
    "<|endoftext|> in the middle", "mixed 中文 and English 混合", "   ", "\n", "a" * 300,
    "Straße ǅ ﬁ ligature", "unknownwordxyz qwerty zxcvbnm", "   indented\n\tcode();",
    # Characters outside the BMP: Rust's regex sees one code point where .NET sees two surrogates.
    "🙂abc", "abc🙂def", "a𝐀b𝐁c", "x𠀀y 𠀀z", "日本語𠮷野家", "🙂123", "'s🙂 it's🙂", "𝟘𝟙𝟚 math digits",
    "a😀😀b", " 🙂\n🙂", "😀'S", "Ǆ🙂ǅ", "𓀀 hieroglyph𓀁", "emoji🙂🙂 spaces  🙂  ", "👍🏽 skin tone", "🇫🇷 flag",
]
_split_only = pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False)
def split_pieces(text):
    """What Qwen's split pattern alone makes of the NFC text (over code points); None where special tokens
    intervene (those are cut out before this step). A tiny vocabulary hides split differences in the ids."""
    if any(sp in text for sp in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]):
        return None
    return [piece for piece, _ in _split_only.pre_tokenize_str(normalizers.NFC().normalize_str(text))]

reference = {
    "generator": "tools/tiny-model/make_tiny_qwen3.py",
    "note": "Random weights: vectors are meaningless as semantics; they exist to check our implementation.",
    "exporter": exported, "seed": SEED, "eos_token_id": eos_id, "hidden_size": config.hidden_size,
    "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__,
                 "tokenizers": __import__("tokenizers").__version__, "onnx": onnx.__version__,
                 "onnxruntime": ort.__version__},
    "tokenizer_cases": [{"text": t, "ids": tok.encode(t).ids, "pieces": split_pieces(t)} for t in TOKENIZER_CASES],
    "embeddings": [{"text": t, "ids": tok.encode(t).ids, "embedding": [round(x, 7) for x in hf_embed(tok.encode(t).ids)]}
                   for t in TEXTS],
}
json.dump(reference, open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8"), ensure_ascii=False, indent=1)
print("wrote", sorted(os.listdir(OUT)), "model bytes", os.path.getsize(os.path.join(OUT, "model.onnx")))

if SHAPES:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import export_shapes
    export_shapes.build(SHAPES, OUT, ExplicitQwen3(model, config), config, tok, TEXTS, hf_embed)
