using System.Buffers;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Embedding.Worker.Model;

/// <summary>
/// Qwen3's byte-level BPE tokenizer, on Microsoft.ML.Tokenizers, matching Hugging Face's tokenizer.json:
/// every added token (special or not: &lt;|endoftext|&gt;, &lt;think&gt;, &lt;tool_call&gt;, …) split out whole, NFC
/// normalisation of the text between them, Qwen2's split pattern over code points (<see cref="Qwen3PreTokenizer"/>), byte-level BPE,
/// and &lt;|endoftext|&gt; appended: the embedding model pools the hidden state of that last token.
/// The vocabulary and merges come from tokenizer.json (what every Qwen3 repository ships), else vocab.json + merges.txt.
/// </summary>
public sealed class Qwen3Tokenizer
{
    public const string EndOfText = "<|endoftext|>";

    /// <summary>The files that make a tokenizer directory: tokenizer.json, or vocab.json with merges.txt.</summary>
    public static readonly string[] Files = ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"];

    private readonly BpeTokenizer _bpe;
    private readonly string[] _added;
    private readonly SearchValues<char> _addedStarts;
    private readonly Dictionary<int, string> _addedById;

    public int EndOfTextId { get; }

    /// <summary>Added tokens by content, as tokenizer.json lists them (special and not).</summary>
    public IReadOnlyDictionary<string, int> AddedTokens { get; }

    public Qwen3Tokenizer(string directory)
    {
        var tokenizerJson = Path.Combine(directory, "tokenizer.json");
        string vocab = Path.Combine(directory, "vocab.json"), merges = Path.Combine(directory, "merges.txt");
        BpeOptions options;
        Dictionary<string, int> added;
        if (File.Exists(tokenizerJson))
        {
            using var stream = File.OpenRead(tokenizerJson);
            using var doc = JsonDocument.Parse(stream);
            var model = doc.RootElement.GetProperty("model");
            options = new BpeOptions(model.GetProperty("vocab").EnumerateObject()
                .Select(p => new KeyValuePair<string, int>(p.Name, p.Value.GetInt32())).ToList())
            {
                Merges = model.GetProperty("merges").EnumerateArray().Select(MergeLine).ToList(),
            };
            added = ReadAddedTokens(doc.RootElement);
        }
        else if (File.Exists(vocab) && File.Exists(merges))
        {
            options = new BpeOptions(vocab, merges);
            added = [];
        }
        else
        {
            throw new FileNotFoundException($"No tokenizer in '{directory}': tokenizer.json, or vocab.json and merges.txt, is required.");
        }

        if (!added.ContainsKey(EndOfText) && File.Exists(vocab))
        {
            using var stream = File.OpenRead(vocab);
            using var doc = JsonDocument.Parse(stream);
            if (doc.RootElement.TryGetProperty(EndOfText, out var id)) added[EndOfText] = id.GetInt32();
        }
        if (!added.TryGetValue(EndOfText, out var eos))
            throw new InvalidDataException($"'{EndOfText}' is not among the added tokens in '{directory}'.");
        EndOfTextId = eos;
        AddedTokens = added;

        // Longest first, so that where two added tokens start at the same place the longer one wins.
        _added = added.Keys.Where(k => k.Length > 0).OrderByDescending(k => k.Length).ToArray();
        _addedStarts = SearchValues.Create(_added.Select(k => k[0]).Distinct().ToArray());
        _addedById = added.ToDictionary(p => p.Value, p => p.Key);
        options.ByteLevel = true;
        options.PreTokenizer = new Qwen3PreTokenizer();
        _bpe = BpeTokenizer.Create(options);
    }

    /// <summary>
    /// Token ids of <paramref name="text"/> followed by &lt;|endoftext|&gt;. As Hugging Face does: added tokens are cut
    /// out of the raw text first (they are not normalised), then each stretch between them is NFC-normalised and
    /// byte-level BPE-encoded on its own. (Normalising the whole text first would differ: NFC composes "&gt;" with a
    /// following U+0338 into "≯", breaking a "&lt;think&gt;" just before it.)
    /// </summary>
    public int[] Encode(string text) => Encode(text, appendEndOfText: true);

    /// <summary>
    /// Token ids of <paramref name="text"/>, with &lt;|endoftext|&gt; appended or not: Qwen3-Reranker's tokenizer appends
    /// nothing (its prompt ends in its own suffix), Qwen3-Embedding's appends it (the token whose hidden state is pooled).
    /// </summary>
    public int[] Encode(string text, bool appendEndOfText)
    {
        var ids = new List<int>(text.Length / 3 + 2);
        var start = 0;
        while (start < text.Length)
        {
            var (at, token) = NextAddedToken(text, start);
            if (at > start)
            {
                var segment = text[start..at].Normalize(NormalizationForm.FormC);
                ids.AddRange(_bpe.EncodeToIds(segment, considerPreTokenization: true, considerNormalization: false));
            }
            if (token is null) break;
            ids.Add(AddedTokens[token]);
            start = at + token.Length;
        }
        if (appendEndOfText) ids.Add(EndOfTextId);
        return [.. ids];
    }

    /// <summary>The earliest (then longest) added token at or after <paramref name="from"/>; (text.Length, null) if none.</summary>
    private (int At, string? Token) NextAddedToken(string text, int from)
    {
        (int At, string? Token) best = (text.Length, null);
        if (text.AsSpan(from).IndexOfAny(_addedStarts) < 0) return best;  // most texts hold none: one vectorised scan
        foreach (var token in _added)
        {
            var at = text.IndexOf(token, from, StringComparison.Ordinal);
            if (at >= 0 && at < best.At) best = (at, token);
        }
        return best;
    }

    /// <summary>Cuts to <paramref name="maxTokens"/> keeping the final &lt;|endoftext|&gt; (what the pooling reads).</summary>
    public int[] Truncate(int[] ids, int maxTokens)
    {
        if (ids.Length <= maxTokens) return ids;
        var cut = ids[..maxTokens];
        cut[^1] = EndOfTextId;
        return cut;
    }

    /// <summary>Text of <paramref name="ids"/>, added tokens as written; a final &lt;|endoftext|&gt; (what Encode appends) is left out.</summary>
    public string Decode(IReadOnlyList<int> ids)
    {
        var count = ids.Count > 0 && ids[^1] == EndOfTextId ? ids.Count - 1 : ids.Count;
        var text = new StringBuilder();
        var run = new List<int>();
        for (var i = 0; i <= count; i++)
        {
            if (i < count && !_addedById.ContainsKey(ids[i])) { run.Add(ids[i]); continue; }
            if (run.Count > 0) text.Append(_bpe.Decode(run));
            run.Clear();
            if (i < count) text.Append(_addedById[ids[i]]);
        }
        return text.ToString();
    }

    /// <summary>A merge as merges.txt writes it: tokenizer.json has "a b" (older) or ["a", "b"] (newer).</summary>
    private static string MergeLine(JsonElement merge) => merge.ValueKind == JsonValueKind.Array
        ? $"{merge[0].GetString()} {merge[1].GetString()}"
        : merge.GetString()!;

    /// <summary>
    /// Every entry of added_tokens. Hugging Face splits each one out of the text before anything else, whether it is
    /// "special" or not (Qwen3's &lt;think&gt; and &lt;tool_call&gt; are not), so they all go to the pre-tokenizer.
    /// </summary>
    private static Dictionary<string, int> ReadAddedTokens(JsonElement root)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        if (root.TryGetProperty("added_tokens", out var added))
            foreach (var t in added.EnumerateArray())
                result[t.GetProperty("content").GetString()!] = t.GetProperty("id").GetInt32();
        return result;
    }
}
