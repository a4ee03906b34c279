using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace Embedding.Worker.Model;

/// <summary>
/// Qwen3's byte-level BPE tokenizer, on Microsoft.ML.Tokenizers, matching Hugging Face's tokenizer.json:
/// NFC normalisation, Qwen2's split pattern over code points (<see cref="Qwen3PreTokenizer"/>),
/// byte-level BPE from vocab.json + merges.txt, special tokens recognised in text, and
/// &lt;|endoftext|&gt; appended: the embedding model pools the hidden state of that last token.
/// </summary>
public sealed class Qwen3Tokenizer
{
    public const string EndOfText = "<|endoftext|>";

    private readonly BpeTokenizer _bpe;

    public int EndOfTextId { get; }

    public Qwen3Tokenizer(string directory)
    {
        var vocab = Path.Combine(directory, "vocab.json");
        var merges = Path.Combine(directory, "merges.txt");
        if (!File.Exists(vocab) || !File.Exists(merges))
            throw new FileNotFoundException($"Tokenizer files vocab.json and merges.txt are required in '{directory}'.");

        var specials = ReadSpecialTokens(directory);
        if (!specials.TryGetValue(EndOfText, out var eos))
            throw new InvalidDataException($"'{EndOfText}' is not among the special tokens in '{directory}'.");
        EndOfTextId = eos;

        _bpe = BpeTokenizer.Create(new BpeOptions(vocab, merges)
        {
            ByteLevel = true,
            PreTokenizer = new Qwen3PreTokenizer(specials),
            Normalizer = new NfcNormalizer(),
            SpecialTokens = specials,
        });
    }

    /// <summary>Token ids of <paramref name="text"/> followed by &lt;|endoftext|&gt;.</summary>
    public int[] Encode(string text)
    {
        var ids = _bpe.EncodeToIds(text, considerPreTokenization: true, considerNormalization: true);
        var result = new int[ids.Count + 1];
        for (var i = 0; i < ids.Count; i++) result[i] = ids[i];
        result[^1] = EndOfTextId;
        return result;
    }

    /// <summary>Cuts to <paramref name="maxTokens"/> keeping the final &lt;|endoftext|&gt; (what the pooling reads).</summary>
    public int[] Truncate(int[] ids, int maxTokens)
    {
        if (ids.Length <= maxTokens) return ids;
        var cut = ids[..maxTokens];
        cut[^1] = EndOfTextId;
        return cut;
    }

    public string Decode(IEnumerable<int> ids) => _bpe.Decode(ids.Where(i => i != EndOfTextId)) ?? "";

    /// <summary>Special ("added") tokens: from tokenizer.json where present, else just &lt;|endoftext|&gt; from the vocabulary.</summary>
    private static Dictionary<string, int> ReadSpecialTokens(string directory)
    {
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        var tokenizerJson = Path.Combine(directory, "tokenizer.json");
        if (File.Exists(tokenizerJson))
        {
            using var stream = File.OpenRead(tokenizerJson);
            using var doc = JsonDocument.Parse(stream);
            if (doc.RootElement.TryGetProperty("added_tokens", out var added))
                foreach (var t in added.EnumerateArray())
                    if (t.TryGetProperty("special", out var s) && s.GetBoolean())
                        result[t.GetProperty("content").GetString()!] = t.GetProperty("id").GetInt32();
        }
        if (!result.ContainsKey(EndOfText))
        {
            using var stream = File.OpenRead(Path.Combine(directory, "vocab.json"));
            using var doc = JsonDocument.Parse(stream);
            if (doc.RootElement.TryGetProperty(EndOfText, out var id)) result[EndOfText] = id.GetInt32();
        }
        return result;
    }

    /// <summary>Unicode NFC, as the Hugging Face tokenizer's normaliser does.</summary>
    private sealed class NfcNormalizer : Normalizer
    {
        public override string Normalize(string original) => original.Normalize(NormalizationForm.FormC);
        public override string Normalize(ReadOnlySpan<char> original) => original.ToString().Normalize(NormalizationForm.FormC);
    }
}
