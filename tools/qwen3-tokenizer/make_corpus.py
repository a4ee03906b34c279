#!/usr/bin/env python3
"""Writes the tokenizer test corpus: texts that stress Qwen3's tokenizer where a re-implementation can go wrong
(scripts, emoji sequences, combining marks, white space runs, code, numbers, added-token look-alikes).

Hand-written fragments, combined deterministically (no randomness), so the corpus is the same on every run.
Run: python3 tools/qwen3-tokenizer/make_corpus.py tests/Embedding.Tests/Data/qwen3-tokenizer-corpus.json
Then reference ids from Hugging Face `tokenizers` (on a machine that has it):
     python3 tools/qwen3-tokenizer/reference_ids.py <tokenizer.json> <corpus.json> <reference.json>
"""
import json, sys

SCRIPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "Привет, мир! Как дела? Съешь же ещё этих мягких французских булок.",
    "Γειά σου Κόσμε· ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "مرحبا بالعالم. هذه جملة باللغة العربية مع أرقام ١٢٣٤٥.",
    "שלום עולם! זהו משפט בעברית.",
    "नमस्ते दुनिया। यह हिंदी में एक वाक्य है।",
    "สวัสดีชาวโลก ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ",
    "北京是中国的首都。今天天气很好，我们去公园散步吧。",
    "機械学習と自然言語処理は検索エンジンを変えています。",
    "こんにちは世界！カタカナとひらがなとKanji。",
    "안녕하세요 세계! 한국어 문장입니다.",
    "გამარჯობა მსოფლიო",
    "Բարեւ աշխարհ",
    "ሰላም ልዑል",
    "வணக்கம் உலகம்",
    "ওহে বিশ্ব, এটি একটি বাংলা বাক্য।",
    "Xin chào thế giới! Tiếng Việt có nhiều dấu.",
    "Türkçe: ığüşöç İĞÜŞÖÇ, Ağrı Dağı",
    "Polski: zażółć gęślą jaźń",
    "Deutsch: Größenwahn, Straße, Ärger über Öl",
    "Français : « Ça va ? » — l'été, où, naïve, cœur",
    "Español: ¿Qué tal? ¡Mañana será otro día!",
    "Português: ação, coração, não, pão",
    "Íslenska: Þetta er ð og æ",
    "ᚠᛇᚻ᛫ᛒᛦᚦ᛫ᚠᚱᚩᚠᚢᚱ runes",
    "ꦲꦏ꧀ꦱꦫꦗꦮ Javanese",
    "𐌰𐌱𐌲 Gothic letters 𐍈",
    "ᐊᐃᑦᑎᑐᑦ Inuktitut",
    "Ελληνικά και English mixed 中文 混合 текст",
]
EMOJI = [
    "🙂", "🚀🚀🚀", "👨‍👩‍👧‍👦 family", "👍🏽 skin tone", "🇫🇷🇩🇪🇯🇵 flags", "1️⃣ keycap", "❤️ heart with VS16",
    "🏳️‍🌈 rainbow flag", "🧑🏿‍💻 coder", "😀😃😄😁😆😅😂🤣", "emoji🙂inside", "🙂abc", "abc🙂def", "🙂123",
    "a😀😀b", " 🙂\n🙂", "😀'S", "🤷‍♀️", "✅ done ❌ failed ⚠️ warn", "☕️🍵🥤",
]
MARKS = [
    "cafe\u0301 (NFD)", "café (NFC)", "nai\u0308ve", "A\u030A ångström", "e\u0301\u0301 double acute",
    "Z\u0335a\u0336l\u0337g\u0338o\u0334 text", "ñ vs n\u0303", "Hangul jamo \u1100\u1161\u11A8", "ǅ ǆ Ǆ titlecase",
    "ﬁ ligature ﬂ", "Ⅻ roman numeral", "①②③ circled", "½ ¼ ¾ fractions", "x² y³ superscripts",
    "\u0915\u094D\u0937 conjunct", "\u0e01\u0e33 Thai sara am", "ٱلْعَرَبِيَّة vowel marks",
]
SPACES = [
    "a  b", "a   b    c", "\ttab", "tabs\t\tand\tspaces", "line1\nline2", "line1\r\nline2\r\n",
    "\n\n\nthree newlines", "trailing   ", "   leading", " ", "  ", "\n", "\r\n", "\t", " \n \n ",
    "a\u00a0b non-breaking", "a\u3000b ideographic space", "zero\u200bwidth", "word\u200djoiner", "a\u2028b line sep",
    "a\u2029b para sep", "x \t\n y", "end with newline\n", "  indented\n    more\n\tless",
]
CODE = [
    "def embed(texts):\n    return [model(t) for t in texts]\n",
    "public static int Add(int a, int b) => a + b;",
    "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
    "<div class=\"container\"><p>Hello &amp; welcome</p></div>",
    "{\"model\": \"qwen3-embedding-4b\", \"input\": [\"hello\", \"world\"], \"dimensions\": 256}",
    "const f = async (x) => { await g(x ?? 0); };",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); }",
    "fn main() { let v: Vec<u8> = vec![1, 2, 3]; }",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
    "git commit -m 'fix: handle ``edge`` cases' && git push",
    "https://example.com/path/to/page?query=a+b&lang=en#section-2",
    "email: first.last+tag@example.co.uk",
    "C:\\Users\\name\\Documents\\file.txt",
    "/usr/local/bin/python3 -m pip install --upgrade pip",
    "$ echo \"$HOME\" | sed -e 's/a/b/g'",
    "a->b; c::d; e<=f; g!=h; i===j; k>>=2;",
    "@decorator\nclass Foo(Bar, metaclass=Meta):\n    pass",
    "// TODO(user): remove this hack before 2027-01-01",
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
]
NUMBERS = [
    "0", "7", "42", "123", "1234", "12345678901234567890", "3.14159265358979", "-17", "+3", "1e-9", "6.022e23",
    "1,000,000.50", "50%", "$20", "€30", "¥40", "£5.99", "#1", "2026-12-01T21:54:58Z", "12:30:45", "v1.2.3-rc.4",
    "٠١٢٣٤٥٦٧٨٩ Arabic-Indic digits", "०१२३ Devanagari digits", "１２３ fullwidth", "𝟘𝟙𝟚 math digits",
    "0x1F600 0b1010 0o777", "192.168.0.1:8080", "+1 (555) 123-4567", "ISBN 978-3-16-148410-0",
]
CONTRACTIONS = [
    "it's they're we've I'm you'll he'd", "IT'S THEY'RE WE'VE I'M", "x'S y'T", "don't won't can't shouldn't",
    "rock 'n' roll", "'quoted' and \"double\"", "O'Brien's", "’curly apostrophe’s", "l'homme d'affaires",
]
# Every added token of Qwen3 (special or not), and things that only look like one.
ADDED = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
         "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
         "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
         "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
         "<think>", "</think>"]
LOOKALIKES = ["<|endoftext", "endoftext|>", "<| endoftext |>", "< think>", "<think >", "<THINK>", "<Think>",
              "<thinking>", "</ think>", "<tool_call", "tool_call>", "<<think>>", "<|im_start|", "|im_end|>",
              "<|EndOfText|>", "<｜endoftext｜>", "<|endoftext|\u200b>", "＜think＞", "<think/>", "<|>", "<||>",
              # NFC would compose '>' or '=' with a following U+0338: added tokens must be cut out before normalising.
              "<think>\u0338", "</think>\u0338x", "a=\u0338b", "<tool_call>\u0338<tool_call>", "x<\u0338think>"]

def corpus():
    texts = []
    texts += SCRIPTS + EMOJI + MARKS + SPACES + CODE + NUMBERS + CONTRACTIONS + LOOKALIKES
    # Added tokens alone, glued to words, between spaces, repeated, nested in chat/tool templates.
    for t in ADDED:
        texts += [t, f"before{t}after", f" {t} ", f"{t}{t}", f"x {t}\n"]
    texts += [
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "<think>\nLet me reason step by step.\n</think>\n\nThe answer is 42.",
        "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"embeddings\"}}\n</tool_call>",
        "<tool_response>\n{\"results\": []}\n</tool_response>",
        "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n    return c<|fim_middle|>",
        "<|repo_name|>dotnet/aspire\n<|file_sep|>src/Program.cs\nvar x = 1;",
        "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:What is <think>?",
        "<think></think>", "<think><think></think></think>", "</think><think>", "<|endoftext|><|endoftext|>x",
    ]
    # Combinations: each fragment family under the transformations a tokenizer must get right.
    pieces = SCRIPTS[:12] + EMOJI[:8] + MARKS[:8] + NUMBERS[:12] + CODE[:6]
    for p in pieces:
        texts += [" " + p, p + "\n", p.upper(), f"{p}  {p}", f"<think>{p}</think>"]
    for a, b in zip(SCRIPTS, SCRIPTS[1:] + SCRIPTS[:1]):
        texts.append(f"{a} {b}")
    # Digits and white space runs of every length up to 12: splits happen per digit and at run ends.
    texts += ["9" * n for n in range(1, 13)] + [" " * n + "x" for n in range(1, 13)] + ["x" + "\n" * n for n in range(1, 7)]
    texts += ["a" * 300, "ab" * 200, "🙂" * 50, "中" * 100, "The end."]
    seen, unique = set(), []
    for t in texts:
        if t not in seen:
            seen.add(t); unique.append(t)
    return unique

if __name__ == "__main__":
    texts = corpus()
    assert len(texts) >= 500, len(texts)
    json.dump({"generator": "tools/qwen3-tokenizer/make_corpus.py", "texts": texts},
              open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False, indent=0)
    print(len(texts), "texts")
