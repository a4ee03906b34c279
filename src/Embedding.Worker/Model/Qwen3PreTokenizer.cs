using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Embedding.Worker.Model;

/// <summary>
/// Qwen2/Qwen3's pre-tokenisation: special tokens split out whole, the rest cut by Qwen's split pattern,
/// matched over Unicode code points as Hugging Face's tokenizers (Rust) does. .NET's Regex sees UTF-16
/// units, where a character outside the BMP (🙂, 𝐀, 𠮷) is two surrogates of category Cs, so "🙂abc" or
/// "a𝐀b" would split differently; the pattern therefore runs over a shadow string holding one BMP
/// stand-in of the same class (letter, number, other) per code point, and offsets are mapped back.
/// </summary>
public sealed partial class Qwen3PreTokenizer(IReadOnlyDictionary<string, int> specialTokens) : PreTokenizer
{
    /// <summary>The pre-tokenisation pattern from Qwen2/Qwen3's tokenizer.json.</summary>
    public const string SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Stand-ins: a letter outside every contraction ('x'), a digit, and a symbol that is neither space nor letter/number.
    private const char LetterStandIn = 'x', NumberStandIn = '0', OtherStandIn = '\u00A6';

    private readonly string[] _specials = specialTokens.Keys.OrderByDescending(k => k.Length).ToArray();

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    private List<(int Offset, int Length)> Split(string text)
    {
        var result = new List<(int, int)>();
        var start = 0;
        while (start < text.Length)
        {
            var (at, length) = NextSpecialToken(text, start);
            SplitOrdinaryText(text, start, at, result);
            if (length == 0) break;
            result.Add((at, length));
            start = at + length;
        }
        return result;
    }

    /// <summary>The earliest (then longest) special token at or after <paramref name="from"/>; (text.Length, 0) if none.</summary>
    private (int At, int Length) NextSpecialToken(string text, int from)
    {
        var best = (At: text.Length, Length: 0);
        foreach (var special in _specials)
        {
            var at = text.IndexOf(special, from, StringComparison.Ordinal);
            if (at >= 0 && at < best.At) best = (at, special.Length);
        }
        return best;
    }

    private static void SplitOrdinaryText(string text, int from, int to, List<(int, int)> result)
    {
        if (from >= to) return;
        var segment = text.AsSpan(from, to - from);
        if (!segment.ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            foreach (var m in SplitRegex().EnumerateMatches(segment)) result.Add((from + m.Index, m.Length));
            return;
        }

        // offsets[i] = UTF-16 offset of code point i; one extra entry for the end.
        var shadow = new StringBuilder(segment.Length);
        var offsets = new List<int>(segment.Length + 1);
        var position = 0;
        foreach (var rune in segment.EnumerateRunes())
        {
            offsets.Add(position);
            shadow.Append(rune.IsBmp ? (char)rune.Value : StandIn(rune));
            position += rune.Utf16SequenceLength;
        }
        offsets.Add(position);
        foreach (var m in SplitRegex().EnumerateMatches(shadow.ToString()))
            result.Add((from + offsets[m.Index], offsets[m.Index + m.Length] - offsets[m.Index]));
    }

    private static char StandIn(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => LetterStandIn,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => NumberStandIn,
        _ => OtherStandIn,
    };

    [GeneratedRegex(SplitPattern)]
    private static partial Regex SplitRegex();
}
