using System.Text.Json;
using Embedding.Tests.Infrastructure;
using Embedding.Worker;
using Embedding.Worker.Backends;
using Embedding.Worker.Model;

namespace Embedding.Tests;

/// <summary>
/// The reranker backend against the official scoring on the tiny Qwen3 reranker (models/qwen3-reranker-tiny, made by
/// tools/tiny-model/make_tiny_qwen3_reranker.py): transformers' Qwen3ForCausalLM, the prompt built and truncated as
/// QwenLM/Qwen3-Embedding's examples/qwen3_reranker_transformers.py does, left-padded batches, P(yes) from a softmax
/// over the no/yes logits. Our side: token ids from our tokenizer, right-padded batches on ONNX Runtime, both graph forms.
/// </summary>
public sealed class RerankerTests : IDisposable
{
    private static readonly string Directory = Path.Combine(TestEnvironment.RepoRoot, "models", "qwen3-reranker-tiny");
    private static readonly JsonElement Reference = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Directory, "reference.json"))).RootElement;

    private readonly OnnxQwen3Reranker _oneLogit = new(Directory, new OnnxBackendOptions { IntraOpThreads = 1 });
    private readonly OnnxQwen3Reranker _twoLogit = new(Directory, new OnnxBackendOptions { IntraOpThreads = 1, OnnxFile = "onnx/model_yes_no.onnx" });

    public void Dispose()
    {
        _oneLogit.Dispose();
        _twoLogit.Dispose();
    }

    public sealed record Case(string? Instruction, string Query, string Document, int MaxLength, int[] Ids, double No, double Yes, double Score);

    public static IReadOnlyList<Case> Cases { get; } = Reference.GetProperty("cases").EnumerateArray().Select(c => new Case(
        c.GetProperty("instruction").ValueKind == JsonValueKind.Null ? null : c.GetProperty("instruction").GetString(),
        c.GetProperty("query").GetString()!, c.GetProperty("document").GetString()!, c.GetProperty("max_length").GetInt32(),
        c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray(),
        c.GetProperty("logits_no_yes")[0].GetDouble(), c.GetProperty("logits_no_yes")[1].GetDouble(), c.GetProperty("score").GetDouble())).ToList();

    private static int[] Ids(string property) => Reference.GetProperty(property).EnumerateArray().Select(i => i.GetInt32()).ToArray();

    [Fact]
    public void The_prefix_and_suffix_are_the_official_token_ids()
    {
        var prompt = _oneLogit.Prompt;
        Assert.Equal(Ids("prefix_ids"), prompt.PrefixIds);
        Assert.Equal(Ids("suffix_ids"), prompt.SuffixIds);
        // The reference's strings are the exporter's (tools/gpu-export/export_qwen3_reranker.py): one prompt on both sides.
        Assert.Equal(Qwen3RerankerPrompt.Prefix, Reference.GetProperty("prefix").GetString());
        Assert.Equal(Qwen3RerankerPrompt.Suffix, Reference.GetProperty("suffix").GetString());
        Assert.Equal(Qwen3RerankerPrompt.DefaultInstruction, Reference.GetProperty("default_instruction").GetString());
    }

    [Fact]
    public void Every_pair_s_prompt_is_the_official_token_ids_default_and_own_instructions_alike()
    {
        var full = Cases.Where(c => c.MaxLength == 8192).ToList();
        Assert.Contains(full, c => c.Instruction is null);
        Assert.Contains(full, c => c.Instruction is not null);
        foreach (var c in full)
            Assert.Equal(c.Ids, _oneLogit.Tokenize(c.Instruction, c.Query, c.Document, c.MaxLength).TokenIds);
    }

    [Fact]
    public void Truncation_cuts_only_the_body_to_the_limit_minus_prefix_and_suffix()
    {
        var cut = Cases.Where(c => c.MaxLength < 8192).ToList();
        Assert.True(cut.Count(c => c.Ids.Length == c.MaxLength) >= 2, "the reference must hold pairs that were cut");
        var prompt = _oneLogit.Prompt;
        foreach (var c in cut)
        {
            var ids = _oneLogit.Tokenize(c.Instruction, c.Query, c.Document, c.MaxLength).TokenIds;
            Assert.Equal(c.Ids, ids);
            Assert.True(ids.Length <= c.MaxLength);
            Assert.Equal(prompt.PrefixIds, ids[..prompt.PrefixIds.Length]);
            Assert.Equal(prompt.SuffixIds, ids[^prompt.SuffixIds.Length..]);
        }
    }

    [Fact]
    public void The_model_s_context_is_the_default_pair_limit()
    {
        var c = Cases.Single(c => c.MaxLength == 256 && c.Ids.Length == 256);  // the long document cut at 256
        var limited = new OnnxQwen3Reranker(Directory, new OnnxBackendOptions { MaxInputTokens = 256, IntraOpThreads = 1 });
        using (limited)
            Assert.Equal(c.Ids, limited.Tokenize(c.Instruction, c.Query, c.Document).TokenIds);
        Assert.Equal(512, _oneLogit.MaxInputTokens);  // config.json's max_position_embeddings
    }

    [Fact]
    public async Task One_logit_scores_match_transformers_within_1e_4_in_one_right_padded_batch()
    {
        var scores = await _oneLogit.ScoreAsync(Cases.Select(c => new TokenizedText(c.Document, c.Ids, c.Ids.Length)).ToList(), CancellationToken.None);
        Assert.Equal(RerankerGraphForm.OneLogit, _oneLogit.Form);
        AssertScores(scores);
    }

    [Fact]
    public async Task Two_logit_scores_match_transformers_within_1e_4_in_one_right_padded_batch()
    {
        var scores = await _twoLogit.ScoreAsync(Cases.Select(c => new TokenizedText(c.Document, c.Ids, c.Ids.Length)).ToList(), CancellationToken.None);
        Assert.Equal(RerankerGraphForm.TwoLogit, _twoLogit.Form);
        AssertScores(scores);
    }

    [Fact]
    public async Task The_one_logit_form_equals_the_softmax_over_the_two_logits()
    {
        // transformers' own two logits: the softmax over [no, yes] is the reference score, and the sigmoid of yes - no equals it.
        foreach (var c in Cases)
        {
            var softmax = Math.Exp(c.Yes) / (Math.Exp(c.No) + Math.Exp(c.Yes));
            Assert.True(Math.Abs(softmax - c.Score) < 1e-6, $"reference softmax {softmax} vs score {c.Score}");
            Assert.True(Math.Abs(OnnxQwen3Reranker.Sigmoid(c.Yes - c.No) - softmax) < 1e-6);
        }
        var pairs = Cases.Select(c => new TokenizedText(c.Document, c.Ids, c.Ids.Length)).ToList();
        var one = await _oneLogit.ScoreAsync(pairs, CancellationToken.None);
        var two = await _twoLogit.ScoreAsync(pairs, CancellationToken.None);
        for (var i = 0; i < pairs.Count; i++) Assert.True(Math.Abs(one[i] - two[i]) < 1e-5, $"pair {i}: {one[i]} vs {two[i]}");
    }

    [Fact]
    public async Task A_pair_s_score_does_not_depend_on_its_batch()
    {
        var pairs = Cases.Select(c => new TokenizedText(c.Document, c.Ids, c.Ids.Length)).ToList();
        var batched = await _oneLogit.ScoreAsync(pairs, CancellationToken.None);
        for (var i = 0; i < pairs.Count; i += 7)
        {
            var alone = (await _oneLogit.ScoreAsync([pairs[i]], CancellationToken.None))[0];
            Assert.True(Math.Abs(alone - batched[i]) < 1e-5, $"pair {i}: alone {alone}, batched {batched[i]}");
        }
    }

    [Fact]
    public async Task The_tokenizer_s_prompt_and_the_graph_rank_as_transformers_does()
    {
        // End to end inside the backend: text in, scores out, against the official scores (the ranking follows).
        var group = Cases.Where(c => c.MaxLength == 8192 && c.Query == Cases[0].Query && c.Instruction == Cases[0].Instruction).ToList();
        var scores = await _oneLogit.ScoreAsync(group.Select(c => _oneLogit.Tokenize(c.Instruction, c.Query, c.Document, c.MaxLength)).ToList(), CancellationToken.None);
        var ours = Enumerable.Range(0, group.Count).OrderByDescending(i => scores[i]).ToArray();
        var official = Enumerable.Range(0, group.Count).OrderByDescending(i => group[i].Score).ToArray();
        Assert.Equal(official, ours);
    }

    [Fact]
    public void A_causal_lm_export_with_whole_vocabulary_logits_is_refused_naming_the_converter()
    {
        var exports = Path.Combine(TestEnvironment.TinyExports, "qwen3-tiny-causallm");
        var temp = Path.Combine(Path.GetTempPath(), $"reranker-causallm-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(temp);
        try
        {
            foreach (var f in System.IO.Directory.EnumerateFiles(exports, "*", SearchOption.AllDirectories))
            {
                var target = Path.Combine(temp, Path.GetRelativePath(exports, f));
                System.IO.Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(f, target);
            }
            foreach (var f in new[] { "tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json" })
                File.Copy(Path.Combine(Directory, f), Path.Combine(temp, f), overwrite: true);
            var ex = Assert.ThrowsAny<Exception>(() => new OnnxQwen3Reranker(temp, new OnnxBackendOptions { IntraOpThreads = 1 }).Dispose());
            Assert.Contains("export_qwen3_reranker.py", ex.Message);
        }
        finally
        {
            System.IO.Directory.Delete(temp, recursive: true);
        }
    }

    private static void AssertScores(float[] scores)
    {
        Assert.Equal(Cases.Count, scores.Length);
        for (var i = 0; i < scores.Length; i++)
            Assert.True(Math.Abs(scores[i] - Cases[i].Score) < 1e-4, $"pair {i}: {scores[i]} vs transformers {Cases[i].Score}");
    }
}
