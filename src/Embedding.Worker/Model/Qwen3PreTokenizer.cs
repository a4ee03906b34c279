using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Embedding.Worker.Model;

/// <summary>
/// Qwen2/Qwen3's pre-tokenisation: text cut by Qwen's split pattern, matched over Unicode code points as Hugging Face's
/// tokenizers (Rust) does. (Added tokens are cut out before, by <see cref="Qwen3Tokenizer"/>.) .NET's Regex sees UTF-16
/// units, where a character outside the BMP (🙂, 𝐀, 𠮷) is two surrogates of category Cs, so "🙂abc" or
/// "a𝐀b" would split differently; the pattern therefore runs over a shadow string holding one BMP
/// stand-in of the same class (letter, number, other) per code point, and offsets are mapped back.
/// </summary>
public sealed partial class Qwen3PreTokenizer : PreTokenizer
{
    /// <summary>The pre-tokenisation pattern from Qwen2/Qwen3's tokenizer.json.</summary>
    public const string SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    // Stand-ins: a letter outside every contraction ('x'), a digit, and a symbol that is neither space nor letter/number.
    private const char LetterStandIn = 'x', NumberStandIn = '0', OtherStandIn = '\u00A6';

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => Split(text);

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => Split(text.ToString());

    private static List<(int Offset, int Length)> Split(string text)
    {
        var result = new List<(int, int)>();
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            foreach (var m in SplitRegex().EnumerateMatches(text)) result.Add((m.Index, m.Length));
            return result;
        }

        // offsets[i] = UTF-16 offset of code point i; one extra entry for the end.
        var shadow = new StringBuilder(text.Length);
        var offsets = new List<int>(text.Length + 1);
        var position = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            offsets.Add(position);
            shadow.Append(rune.IsBmp ? (char)rune.Value : StandIn(rune));
            position += rune.Utf16SequenceLength;
        }
        offsets.Add(position);
        foreach (var m in SplitRegex().EnumerateMatches(shadow.ToString()))
            result.Add((offsets[m.Index], offsets[m.Index + m.Length] - offsets[m.Index]));
        return result;
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
