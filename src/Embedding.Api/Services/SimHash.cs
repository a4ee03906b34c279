using System.IO.Hashing;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;

namespace Embedding.Api.Services;

/// <summary>
/// SimHash fingerprints (Charikar): 64 bits over the character 4-grams of the normalised text (NFKC, runs of white space
/// as one space, trimmed). Texts that differ only in spacing get the same fingerprint; a small edit flips a few bits;
/// unrelated texts differ in about 32. Case and punctuation are kept: the model's tokenizer sees them, and the benchmark
/// showed that folding them reuses vectors the model would have placed far apart.
/// </summary>
public static class SimHash
{
    private const int Shingle = 4;

    public static string Normalise(string text)
    {
        var builder = new StringBuilder(text.Length);
        var space = false;
        foreach (var c in text.Normalize(NormalizationForm.FormKC))
        {
            if (char.IsWhiteSpace(c)) { space = builder.Length > 0; continue; }
            if (space) builder.Append(' ');
            space = false;
            builder.Append(c);
        }
        return builder.ToString();
    }

    public static ulong Of(string text)
    {
        var normal = Normalise(text);
        Span<int> weights = stackalloc int[64];
        var chars = normal.AsSpan();
        var count = Math.Max(1, chars.Length - Shingle + 1);
        for (var i = 0; i < count; i++)
        {
            var gram = chars.Slice(i, Math.Min(Shingle, chars.Length - i));
            var hash = XxHash3.HashToUInt64(MemoryMarshal.AsBytes(gram));
            for (var bit = 0; bit < 64; bit++) weights[bit] += ((hash >> bit) & 1) == 1 ? 1 : -1;
        }
        ulong fingerprint = 0;
        for (var bit = 0; bit < 64; bit++) if (weights[bit] > 0) fingerprint |= 1UL << bit;
        return fingerprint;
    }

    public static int Distance(ulong a, ulong b) => BitOperations.PopCount(a ^ b);
}
