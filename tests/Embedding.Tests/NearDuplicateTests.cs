using System.Net.Http.Json;
using System.Text.Json;
using Embedding.Api;
using Embedding.Api.Services;
using Embedding.Tests.Infrastructure;
using Microsoft.Extensions.Options;

namespace Embedding.Tests;

/// <summary>Opt-in near-duplicate reuse: the fingerprint, the index's threshold, and the behaviour through the API.</summary>
public sealed class NearDuplicateTests
{
    private const string Text = "Queues decouple the API from the workers, so a burst of requests waits instead of failing.";

    [Fact]
    public void Fingerprint_ignores_spacing_and_moves_little_for_a_small_edit()
    {
        var original = SimHash.Of(Text);
        Assert.Equal(original, SimHash.Of("  " + Text.Replace(" ", "  \n") + "\t"));
        Assert.NotEqual(original, SimHash.Of(Text.ToUpperInvariant()));  // the tokenizer sees case, so the fingerprint does too
        var edited = SimHash.Distance(original, SimHash.Of(Text.Replace("burst", "spike")));
        var unrelated = SimHash.Distance(original, SimHash.Of("The capital of France is Paris, and Berlin is the capital of Germany today."));
        Assert.InRange(edited, 1, 12);
        Assert.True(unrelated > 20, $"unrelated texts differ in {unrelated} bits");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    [InlineData(7)]
    public void Index_finds_every_fingerprint_within_the_threshold_and_none_beyond(int maxDistance)
    {
        var index = new NearDuplicateIndex(Options(maxDistance));
        var random = new Random(maxDistance);
        for (var trial = 0; trial < 300; trial++)
        {
            var stored = (ulong)random.NextInt64() ^ ((ulong)random.Next() << 40);
            index.Add($"scope-{trial}", stored, $"key-{trial}");
            var flips = trial % (maxDistance + 3);  // 0 .. maxDistance + 2 bits away
            var probe = stored;
            foreach (var bit in Enumerable.Range(0, 64).OrderBy(_ => random.Next()).Take(flips)) probe ^= 1UL << bit;

            var found = index.Find($"scope-{trial}", probe);
            if (flips <= maxDistance) Assert.Equal(($"key-{trial}", flips), found);
            else Assert.Null(found);
            Assert.Null(index.Find($"other-scope-{trial}", stored));  // model and instruction are part of the scope
        }
    }

    [Fact]
    public void Index_forgets_the_oldest_fingerprints_beyond_its_bound()
    {
        var index = new NearDuplicateIndex(Options(3, maxEntries: 2));
        index.Add("s", 0, "a");
        index.Add("s", ulong.MaxValue, "b");
        index.Add("s", 0xFFFF_FFFF_0000_0000, "c");  // 32 bits from both
        Assert.Equal(2, index.Count);
        Assert.Null(index.Find("s", 0));
        Assert.Equal(("c", 0), index.Find("s", 0xFFFF_FFFF_0000_0000));
    }

    [Fact]
    public async Task Off_by_default_a_near_identical_text_gets_its_own_vector()
    {
        await using var stack = new EmbeddingStack(backend: "Fake");
        var first = await EmbedAsync(stack, Text);
        var variant = await EmbedAsync(stack, Text + " ");
        Assert.NotEqual(first, variant);
    }

    [Fact]
    public async Task Switched_on_a_near_identical_text_reuses_the_cached_vector_within_the_threshold_only()
    {
        await using var stack = new EmbeddingStack(backend: "Fake", api: new()
        {
            ["Api:Cache:NearDuplicates:Enabled"] = "true",
            ["Api:Cache:NearDuplicates:MaxDistance"] = "0",
            ["Api:Cache:NearDuplicates:MinCharacters"] = "40",
        });
        var original = await EmbedAsync(stack, Text);

        // Same text after normalisation (distance 0): the cached vector, no worker time.
        Assert.Equal(original, await EmbedAsync(stack, "  " + Text.Replace(" ", "   ") + "\n"));
        // One word changed is beyond a threshold of 0 bits: its own vector.
        Assert.NotEqual(original, await EmbedAsync(stack, Text.Replace("burst", "spike")));
        // Another instruction (a query rather than a document) is another scope.
        Assert.NotEqual(await EmbedAsync(stack, Text, inputType: "query"), original);
        // Short texts are never matched.
        var shortText = await EmbedAsync(stack, "Short text.");
        Assert.NotEqual(shortText, await EmbedAsync(stack, "Short  text."));
    }

    private static async Task<float[]> EmbedAsync(EmbeddingStack stack, string input, string inputType = "document")
    {
        var response = await stack.Client.PostAsJsonAsync("/v1/embeddings", new { model = stack.Model, input, input_type = inputType });
        response.EnsureSuccessStatusCode();
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return json.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
    }

    private static IOptions<EmbeddingApiOptions> Options(int maxDistance, int maxEntries = 1000) => Microsoft.Extensions.Options.Options.Create(new EmbeddingApiOptions
    {
        Cache = new CacheOptions { NearDuplicates = new NearDuplicateOptions { Enabled = true, MaxDistance = maxDistance, MaxEntries = maxEntries } },
    });
}
