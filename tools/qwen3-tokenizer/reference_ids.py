#!/usr/bin/env python3
"""Reference token ids for the tokenizer corpus from Hugging Face `tokenizers` (Rust), the implementation SGLang and
transformers use: each text encoded with Qwen3's tokenizer.json, then <|endoftext|> appended as Qwen3-Embedding does
(the embedding is that last token's hidden state).
Run: python3 tools/qwen3-tokenizer/reference_ids.py TOKENIZER_JSON CORPUS_JSON OUT_JSON
"""
import hashlib, json, sys
import tokenizers
from tokenizers import Tokenizer

tok_path, corpus_path, out_path = sys.argv[1:4]
tok = Tokenizer.from_file(tok_path)
eos = tok.token_to_id("<|endoftext|>")
texts = json.load(open(corpus_path, encoding="utf-8"))["texts"]
cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids + [eos]} for t in texts]
json.dump({"generator": "tools/qwen3-tokenizer/reference_ids.py",
           "tokenizers": tokenizers.__version__,
           "tokenizer_json_sha256": hashlib.sha256(open(tok_path, "rb").read()).hexdigest(),
           "cases": cases}, open(out_path, "w", encoding="utf-8"), ensure_ascii=False, indent=0)
print(len(cases), "cases,", sum(len(c["ids"]) for c in cases), "ids")
